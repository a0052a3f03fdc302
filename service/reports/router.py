from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from service.deps import ReadKey, SessionDep
from service.reports import service, spend, spend_csv
from service.reports.schemas import KindSpendReport, SpendKind, SpendReport
from service.types import IsoDate

router = APIRouter(tags=["reports"])

From = Annotated[
    IsoDate | None,
    Query(alias="from", description="first day (UTC), default the 1st of this month"),
]
To = Annotated[
    IsoDate | None, Query(alias="to", description="last day, inclusive (UTC), default today")
]
GroupByQuery = Annotated[
    service.GroupBy, Query(description="month | team | model (or job: one row per job)")
]


def _range(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    first, last = service.default_range(datetime.now(UTC).date())
    return date_from or first, date_to or last


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/v1/reports/training-spend",
    response_model=SpendReport,
    response_model_by_alias=True,
    response_model_exclude_none=True,
    summary="Training spend: actual where known, estimated otherwise, each row flagged",
)
def training_spend(
    session: SessionDep,
    _: ReadKey,
    date_from: From = None,
    date_to: To = None,
    group_by: GroupByQuery = "month",
) -> SpendReport:
    start, end = _range(date_from, date_to)
    return service.training_spend(session, date_from=start, date_to=end, group_by=group_by)


@router.get(
    "/v1/reports/training-spend.csv",
    summary="Training spend as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def training_spend_csv(
    session: SessionDep,
    _: ReadKey,
    date_from: From = None,
    date_to: To = None,
    group_by: GroupByQuery = "month",
) -> Response:
    start, end = _range(date_from, date_to)
    report = service.training_spend(session, date_from=start, date_to=end, group_by=group_by)
    name = f"training-spend-{start.isoformat()}-{end.isoformat()}-by-{group_by}.csv"
    return _csv(service.to_csv(report), name)


SpendGroupBy = Annotated[spend.GroupBy, Query(description="month | team | model | kind")]
KindQuery = Annotated[
    SpendKind | None, Query(description="training | inference; default both, a row per kind")
]


@router.get(
    "/v1/reports/spend",
    response_model=KindSpendReport,
    response_model_by_alias=True,
    summary="Spend by month, team, model or kind: estimated, actual and billed side by side",
    description=(
        "Training: jobs created in the range, actual where OpenAI reported the trained tokens, "
        "the launch estimate otherwise (as `/v1/reports/training-spend`). Inference: reported "
        "and imported usage, counted once per day and model (the larger figure), at the price "
        "in force each day; not estimated (`estimated_usd` null); `actual_usd` null where some "
        "traffic has no price (`unpriced` names the models). Inference has no team: it is "
        "grouped under `(no team)`. Billed: OpenAI's Costs API line items of each kind, where "
        "imported. Money is a decimal string."
    ),
)
def spend_report(
    session: SessionDep,
    _: ReadKey,
    date_from: From = None,
    date_to: To = None,
    group_by: SpendGroupBy = "month",
    kind: KindQuery = None,
) -> KindSpendReport:
    start, end = _range(date_from, date_to)
    return spend.spend_by_kind(session, date_from=start, date_to=end, group_by=group_by, kind=kind)


@router.get(
    "/v1/reports/spend.csv",
    summary="Spend by kind as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def spend_report_csv(
    session: SessionDep,
    _: ReadKey,
    date_from: From = None,
    date_to: To = None,
    group_by: SpendGroupBy = "month",
    kind: KindQuery = None,
) -> Response:
    start, end = _range(date_from, date_to)
    report = spend.spend_by_kind(
        session, date_from=start, date_to=end, group_by=group_by, kind=kind
    )
    return _csv(spend_csv.to_csv(report), spend_csv.filename(report))
