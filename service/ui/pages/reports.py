"""Pages over reports and reference data: spend, the model countdown, prices."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from pricing.errors import PricingError
from service.deps import SessionDep
from service.reports.schemas import SpendKind
from service.ui import sources
from service.ui.charts import Series, hbar_chart
from service.ui.spend_view import kind_charts
from service.ui.web import ReadSession, UiRoute, render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, route_class=UiRoute)  # under /ui
GroupBy = Literal["month", "team", "model", "kind"]
KindFilter = Literal["all", "training", "inference"]
MAX_DIFF_BARS = 16  # a readable chart; the table below it lists every change


def _kind(kind: KindFilter) -> SpendKind | None:
    return None if kind == "all" else kind


# --- spend -----------------------------------------------------------------------------------


@router.get("/spend")
def spend(
    request: Request,
    session: SessionDep,
    ui: ReadSession,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    group_by: GroupBy = "month",
    kind: KindFilter = "all",
) -> Response:
    # A dashboard opens on the year so far: one month is rarely a trend.
    end = date_to or sources.current_time().date()
    start = date_from or date(end.year, 1, 1)
    report = sources.spend_by_kind(
        session, date_from=start, date_to=end, group_by=group_by, kind=_kind(kind)
    )
    query = urlencode(
        {"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by, "kind": kind}
    )
    return render(
        request,
        "spend.html",
        session=ui,
        report=report,
        charts=kind_charts(report),
        start=start,
        end=end,
        group_by=group_by,
        kind=kind,
        csv_url=f"/ui/spend.csv?{query}",
    )


@router.get("/spend.csv")
def spend_csv(
    session: SessionDep,
    _: ReadSession,
    date_from: Annotated[date, Query(alias="from")],
    date_to: Annotated[date, Query(alias="to")],
    group_by: GroupBy = "month",
    kind: KindFilter = "all",
) -> Response:
    report = sources.spend_by_kind(
        session, date_from=date_from, date_to=date_to, group_by=group_by, kind=_kind(kind)
    )
    return Response(
        sources.spend_to_csv(report),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{sources.spend_csv_name(report)}"',
            "Cache-Control": "no-store",
        },
    )


# --- fine-tuned models: the countdown ---------------------------------------------------------


@router.get("/models")
def models(
    request: Request,
    session: SessionDep,
    ui: ReadSession,
    as_of: date | None = None,
    horizon: Annotated[int, Query(ge=1, le=3650)] = 365,
) -> Response:
    day = as_of or sources.current_time().date()
    listing = sources.list_models(session, as_of=day)
    # The countdown is of models still running: those already shut down are listed apart.
    dated = [m for m in listing.models if m.days_left is not None and m.shutdown_date]
    ending = sorted(
        (m for m in dated if 0 < (m.days_left or 0) <= horizon), key=lambda m: (m.days_left, m.id)
    )
    gone = sorted((m for m in dated if not m.days_left), key=lambda m: (m.shutdown_date, m.id))
    tunable = [m for m in listing.models if m.fine_tuning]
    jobs, _ = sources.list_jobs(session, status="succeeded", limit=100)
    fine_tuned = []
    for job in jobs:
        if job.fine_tuned_model:
            try:
                [model] = sources.list_models(session, as_of=day, name=job.fine_tuned_model).models
            except PricingError:
                # A base the catalogue does not know (yet) must not hide every other model.
                log.info("no catalogue entry for %s", job.fine_tuned_model)
                continue
            fine_tuned.append((job, model))
    chart = hbar_chart(
        title=f"Days left before shutdown, as of {day.isoformat()}",
        categories=[m.id for m in ending],
        series=[Series("days_left", [Decimal(m.days_left or 0) for m in ending])],
        unit=" days",
        chart_id="countdown-chart",
    )
    return render(
        request,
        "models.html",
        session=ui,
        day=day,
        horizon=horizon,
        ending=ending,
        gone=gone,
        tunable=tunable,
        fine_tuned=fine_tuned,
        closes=listing.fine_tuning_closes,
        chart=chart,
    )


# --- prices ----------------------------------------------------------------------------------


@router.get("/prices")
def prices(
    request: Request,
    session: SessionDep,
    ui: ReadSession,
    as_of: date | None = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    from_version: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to_version: Annotated[str | None, Query(alias="to", max_length=64)] = None,
) -> Response:
    day = as_of or sources.current_time().date()
    versions = sources.price_versions(session, ui.principal).versions
    table = sources.prices_as_of(session, ui.principal, as_of=day, model=model or None)
    # By default: what the version in force on the day changed from the one before it.
    newer = to_version or table.version
    ids = [v.version for v in versions]
    older = from_version or (
        ids[ids.index(newer) - 1] if newer in ids and ids.index(newer) else newer
    )
    diff = sources.price_diff(session, ui.principal, from_version=older, to_version=newer)
    shown = [c for c in diff.changes if c.old is not None and c.new is not None][:MAX_DIFF_BARS]
    chart = hbar_chart(
        title=f"Prices changed from {older} to {newer}, USD per 1M tokens",
        categories=[f"{c.model} {c.field.removeprefix('usd_per_1m_')}" for c in shown],
        series=[
            Series("old", [Decimal(c.old or 0) for c in shown]),
            Series("new", [Decimal(c.new or 0) for c in shown]),
        ],
        unit=" USD/1M",
        chart_id="diff-chart",
    )
    fields = sorted({f for prices in table.models.values() for f in prices})
    return render(
        request,
        "prices.html",
        session=ui,
        day=day,
        model=model or "",
        versions=versions,
        table=table,
        fields=fields,
        diff=diff,
        older=older,
        newer=newer,
        chart=chart,
        charted=len(shown),
    )
