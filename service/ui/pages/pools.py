"""Rate-limit pages: every family's pool now, one pool over the last hour or day, the planner."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError

from service.deps import SessionDep, SettingsDep
from service.errors import InvalidInput
from service.settings import Settings
from service.ui import sources
from service.ui.charts import Series, bar_chart
from service.ui.web import ReadSession, UiRoute, render

router = APIRouter(include_in_schema=False, route_class=UiRoute)  # under /ui
Org = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
WINDOWS = {"hour": (timedelta(hours=1), 1), "day": (timedelta(days=1), 10)}  # span, minutes a bar


# --- rate limits -----------------------------------------------------------------------------


@router.get("/pools")
def pools(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ui: ReadSession,
    org: Org = None,
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


def _bars(minutes: list[dict[str, Any]], per_bar: int) -> list[tuple[str, int, int]]:
    """(label, peak tokens in any one minute, requests) per bar: a day is 144 bars of 10
    minutes, each showing its busiest minute, so the limit line still means tokens per minute."""
    bars = []
    for i in range(0, len(minutes), per_bar):
        chunk = minutes[i : i + per_bar]
        minute: datetime = chunk[0]["minute"]
        bars.append(
            (
                minute.strftime("%H:%M"),
                max(m["tokens"] for m in chunk),
                sum(m["requests"] for m in chunk),
            )
        )
    return bars


def _plan(
    session: SessionDep, settings: Settings, *, org: str, model: str, rpm: int, tokens: int
) -> dict[str, Any]:
    try:
        request = sources.PlanIn(
            org=org, model=model, requests_per_minute=rpm, tokens_per_request=tokens
        )
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
        raise InvalidInput(f"check the planner's fields: {fields}") from exc
    return sources.plan(
        session, org=org, request=request, now=sources.current_time(), settings=settings
    )


@router.get("/pools/{family}")
def pool(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ui: ReadSession,
    family: Annotated[str, Path(min_length=1, max_length=200)],
    window: Literal["hour", "day"] = "hour",
    org: Org = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    requests_per_minute: Annotated[int | None, Query(ge=1, le=10**9)] = None,
    tokens_per_request: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
) -> Response:
    org_name = org or sources.default_org(settings)
    now = sources.current_time()
    span, per_bar = WINDOWS[window]
    view = sources.get_pool(session, org=org_name, family=family, now=now, settings=settings)
    history = sources.pool_history(
        session,
        org=org_name,
        family=view["family"],
        start=now - span,
        end=now,
        now=now,
        settings=settings,
    )
    bars = _bars(history["minutes"], per_bar)
    limit = view["limit"]["tokens_per_minute"]
    load = bar_chart(
        title=f"{view['family']}: tokens per minute over the last {window}",
        categories=[label for label, _, _ in bars],
        series=[Series("tokens", [Decimal(tokens) for _, tokens, _ in bars])],
        unit=" tokens/min",
        threshold=None if limit is None else Decimal(limit),
        chart_id="history-chart",
        label_every=max(len(bars) // 12, 1),
    )
    shares = bar_chart(
        title=f"{view['family']}: each model's tokens per minute now",
        categories=[m["model"] for m in view["models"]],
        series=[Series("tokens", [Decimal(m["tokens_per_minute"]) for m in view["models"]])],
        unit=" tokens/min",
        chart_id="shares-chart",
    )
    planned = None
    if model and requests_per_minute and tokens_per_request:
        planned = _plan(
            session,
            settings,
            org=org_name,
            model=model,
            rpm=requests_per_minute,
            tokens=tokens_per_request,
        )
    return render(
        request,
        "pool.html",
        session=ui,
        org=org_name,
        pool=view,
        history=history,
        bars=bars,
        window=window,
        per_bar=per_bar,
        load=load,
        shares=shares,
        planned=planned,
        model=model or view["family"],
        requests_per_minute=requests_per_minute or "",
        tokens_per_request=tokens_per_request or "",
    )
