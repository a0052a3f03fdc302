from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from service.deps import ReadKey, SessionDep
from service.reports import service
from service.reports.schemas import SpendReport
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
    return Response(
        service.to_csv(report),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
