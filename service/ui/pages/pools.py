"""Rate-limit pages: every family's pool now, one pool over the last hour or day, the planner."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from service.deps import SessionDep, SettingsDep
from service.ui import sources
from service.ui.charts import Series, bar_chart
from service.ui.web import ReadSession, UiRoute, render

router = APIRouter(include_in_schema=False, route_class=UiRoute)  # under /ui


# --- rate limits -----------------------------------------------------------------------------


@router.get("/pools")
def pools(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ui: ReadSession,
    org: Annotated[
        str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    ] = None,
) -> Response:
    org_name = org or sources.default_org(settings)
    listing = sources.list_pools(
        session, org=org_name, now=sources.current_time(), settings=settings
    )
    views = listing["pools"]
    chart = bar_chart(
        title="Pool utilisation now, % of the tokens-per-minute limit",
        categories=[p["family"] for p in views],
        series=[
            Series("utilisation", [Decimal(p["tokens_utilisation_pct"] or 0) for p in views]),
        ],
        unit=" %",
        threshold=Decimal(settings.tpm_alert_threshold_pct),
        chart_id="pools-chart",
    )
    return render(request, "pools.html", session=ui, org=org_name, pools=views, chart=chart)
