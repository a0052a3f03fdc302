from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.billing import importer, reconcile
from service.billing.csvout import to_csv
from service.billing.models import CostImport
from service.billing.schemas import (
    GroupBy,
    ImportIn,
    ImportOut,
    ImportPage,
    ReconciliationReport,
)
from service.deps import AdminKey, ReadKey, SessionDep
from service.types import IsoDate

router = APIRouter(tags=["billing"])

From = Annotated[
    IsoDate | None, Query(alias="from", description="first day (UTC), default the 1st of the month")
]
To = Annotated[
    IsoDate | None, Query(alias="to", description="last day, inclusive (UTC), default yesterday")
]
GroupByQuery = Annotated[
    list[GroupBy] | None,
    Query(description="any of day, month, project, model, line_item (default: day, model, "
          "line_item); repeat the parameter for several"),
]  # fmt: skip
Threshold = Annotated[
    Decimal,
    Query(
        ge=0, le=100, max_digits=7,
        description="flag rows whose difference exceeds this percentage of the bill (and 1 cent)",
    ),
]  # fmt: skip


def _import_out(run: CostImport) -> ImportOut:
    assert run.id is not None
    return ImportOut(
        id=run.id, trigger=run.trigger, requested_by=run.requested_by,
        status=run.status,
        start=run.start_day, end=run.end_day, days=run.days, lines=run.lines, error=run.error,
        started_at=run.started_at, finished_at=run.finished_at,
    )  # fmt: skip


@router.post(
    "/v1/billing/imports",
    status_code=201,
    response_model=ImportOut,
    summary="Import OpenAI's daily costs now (default: the backfill or re-read window)",
)
def create_import(request: Request, principal: AdminKey, body: ImportIn | None = None) -> ImportOut:
    body = body or ImportIn()
    run = importer.run_import(
        request.app.state.engine, request.app.state.settings, trigger="manual",
        requested_by=principal.name, start=body.start, end=body.end,
    )  # fmt: skip
    return _import_out(run)


@router.get("/v1/billing/imports", response_model=ImportPage, summary="Recent costs imports")
def list_imports(session: SessionDep, _: ReadKey) -> ImportPage:
    return ImportPage(items=[_import_out(r) for r in importer.list_imports(session)])


def _range(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    last = date_to or datetime.now(UTC).date() - timedelta(days=1)
    return date_from or last.replace(day=1), last


@router.get(
    "/v1/billing/reconciliation",
    response_model=ReconciliationReport,
    response_model_by_alias=True,
    summary="OpenAI's bill beside ratecard's figures, with the likely cause of each difference",
)
def reconciliation(
    session: SessionDep,
    _: ReadKey,
    date_from: From = None,
    date_to: To = None,
    group_by: GroupByQuery = None,
    threshold_pct: Threshold = reconcile.DEFAULT_THRESHOLD_PCT,
) -> ReconciliationReport:
    start, end = _range(date_from, date_to)
    return reconcile.reconcile(
        session, date_from=start, date_to=end, threshold_pct=threshold_pct,
        group_by=group_by or ["day", "model", "line_item"],
    )  # fmt: skip


@router.get(
    "/v1/billing/reconciliation.csv",
    summary="The reconciliation report as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def reconciliation_csv(
    session: SessionDep,
    _: ReadKey,
    date_from: From = None,
    date_to: To = None,
    group_by: GroupByQuery = None,
    threshold_pct: Threshold = reconcile.DEFAULT_THRESHOLD_PCT,
) -> Response:
    start, end = _range(date_from, date_to)
    report = reconcile.reconcile(
        session, date_from=start, date_to=end, threshold_pct=threshold_pct,
        group_by=group_by or ["day", "model", "line_item"],
    )  # fmt: skip
    name = f"reconciliation-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        to_csv(report),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
