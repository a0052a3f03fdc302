"""The dashboard at /ui: server-rendered pages over the service functions the REST API calls.

Filters are GET forms, so every view is a URL that can be shared; charts are inline SVG
(service.ui.charts); no page runs a script.
"""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from service.deps import EngineDep, SessionDep, SettingsDep
from service.errors import Forbidden, InvalidInput, NotAuthenticated
from service.jobs.schemas import TEAM_PATTERN
from service.ui import session as ui_session
from service.ui import sources
from service.ui.charts import Series, bar_chart
from service.ui.static import static_file
from service.ui.web import (
    AnySession,
    ReadSession,
    UiRoute,
    render,
    same_origin,
    secure_cookies,
)

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=UiRoute)
router.add_api_route("/static/{name}", static_file, methods=["GET"])

GroupBy = Literal["month", "team", "model"]
MAX_DIFF_BARS = 16  # a readable chart; the table below it lists every change
Team = Annotated[str | None, Query(max_length=100, pattern=TEAM_PATTERN)]


def _safe_next(target: str | None) -> str:
    # Only a path of this dashboard: never another host ("//evil", "https://...").
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/spend"


def _check_csrf(ui: ui_session.UiSession, token: str | None) -> None:
    if not ui_session.csrf_matches(ui.csrf, token):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and retry")


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/ui/spend", status_code=303)


# --- sign-in ---------------------------------------------------------------------------------


def _sign_in_page(
    request: Request, next_url: str | None, *, status_code: int = 200, error: str | None = None
) -> Response:
    token = secrets.token_urlsafe(16)
    response = render(
        request,
        "sign_in.html",
        status_code=status_code,
        form_token=token,
        next_url=_safe_next(next_url),
        error=error,
    )
    response.set_cookie(
        ui_session.SIGN_IN_COOKIE,
        token,
        max_age=600,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.get("/sign-in")
def sign_in_form(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> Response:
    return _sign_in_page(request, next_url)


@router.post("/sign-in", dependencies=[Depends(same_origin)])
def sign_in(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Form(max_length=200)],
    form_token: Annotated[str, Form(max_length=100)],
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "/ui/spend",
) -> Response:
    expected = request.cookies.get(ui_session.SIGN_IN_COOKIE) or ""
    if not ui_session.csrf_matches(expected, form_token):
        raise Forbidden("the sign-in form expired or came from another site; reload and retry")
    try:
        token, _ = ui_session.sign_in(session, secret=key.strip(), now=sources.current_time())
    except NotAuthenticated:
        return _sign_in_page(
            request, next_url, status_code=401, error="That API key is not valid or was revoked."
        )
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    response.set_cookie(
        ui_session.COOKIE,
        token,
        max_age=int(ui_session.LIFETIME.total_seconds()),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    response.delete_cookie(ui_session.SIGN_IN_COOKIE, path="/ui")
    return response


@router.post("/sign-out", dependencies=[Depends(same_origin)])
def sign_out(ui: AnySession, csrf: Annotated[str | None, Form(max_length=100)] = None) -> Response:
    _check_csrf(ui, csrf)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(ui_session.COOKIE, path="/ui")
    return response


# --- spend -----------------------------------------------------------------------------------


@router.get("/spend")
def spend(
    request: Request,
    session: SessionDep,
    ui: ReadSession,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    group_by: GroupBy = "month",
) -> Response:
    start, end = (
        date_from or date(sources.current_time().year, 1, 1),
        date_to or (sources.current_time().date()),
    )
    report = sources.training_spend(session, date_from=start, date_to=end, group_by=group_by)
    chart = bar_chart(
        title=f"Training spend by {group_by}, USD",
        categories=[r.group for r in report.rows],
        series=[
            Series("estimated", [Decimal(r.estimated_usd) for r in report.rows]),
            Series("actual", [Decimal(r.actual_usd) for r in report.rows]),
        ],
        unit=" USD",
        chart_id="spend-chart",
    )
    query = f"from={start.isoformat()}&to={end.isoformat()}&group_by={group_by}"
    return render(
        request,
        "spend.html",
        session=ui,
        report=report,
        chart=chart,
        start=start,
        end=end,
        group_by=group_by,
        csv_url=f"/ui/spend.csv?{query}",
    )


@router.get("/spend.csv")
def spend_csv(
    session: SessionDep,
    _: ReadSession,
    date_from: Annotated[date, Query(alias="from")],
    date_to: Annotated[date, Query(alias="to")],
    group_by: GroupBy = "month",
) -> Response:
    report = sources.training_spend(
        session, date_from=date_from, date_to=date_to, group_by=group_by
    )
    name = f"training-spend-{date_from.isoformat()}-{date_to.isoformat()}-by-{group_by}.csv"
    return Response(
        sources.to_csv(report),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
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
    ending = sorted(
        (m for m in listing.models if m.days_left is not None and m.days_left <= horizon),
        key=lambda m: (m.days_left, m.id),
    )
    tunable = [m for m in listing.models if m.fine_tuning]
    jobs, _ = sources.list_jobs(session, status="succeeded", limit=100)
    fine_tuned = []
    for job in jobs:
        if job.fine_tuned_model:
            [model] = sources.list_models(session, as_of=day, name=job.fine_tuned_model).models
            fine_tuned.append((job, model))
    chart = bar_chart(
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
        tunable=tunable,
        fine_tuned=fine_tuned,
        closes=listing.fine_tuning_closes,
        chart=chart,
    )


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


# --- jobs ------------------------------------------------------------------------------------


@router.get("/jobs")
def jobs(
    request: Request,
    session: SessionDep,
    ui: ReadSession,
    status: Annotated[str | None, Query(max_length=40)] = None,
    team: Team = None,
) -> Response:
    items, _ = sources.list_jobs(session, status=status or None, team=team or None, limit=100)
    chart = bar_chart(
        title="Jobs: estimated vs actual cost, USD",
        categories=[j.id[-8:] for j in items],
        series=[
            Series("estimated", [Decimal(j.estimated_cost_usd or 0) for j in items]),
            Series("actual", [Decimal(j.actual_cost_usd or 0) for j in items]),
        ],
        unit=" USD",
        chart_id="jobs-chart",
    )
    return render(
        request,
        "jobs.html",
        session=ui,
        jobs=items,
        status=status or "",
        team=team or "",
        chart=chart,
        can_launch=ui.principal.has("launch"),
        idempotency_key=secrets.token_urlsafe(12),
    )


@router.post("/jobs", dependencies=[Depends(same_origin)])
def launch_job(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    ui: AnySession,
    training_file: Annotated[str, Form(max_length=200)],
    model: Annotated[str, Form(max_length=200)],
    team: Annotated[str, Form(max_length=100)],
    idempotency_key: Annotated[str, Form(max_length=100)],
    csrf: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    # The scope first, as the REST API does: a read key is refused whatever the form holds.
    if not ui.principal.has("launch"):
        raise Forbidden("this API key lacks the 'launch' scope")
    _check_csrf(ui, csrf)
    try:
        body = sources.JobIn(
            training_file=training_file.strip(), model=model.strip(), team=team.strip()
        )
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
        raise InvalidInput(f"check these fields: {fields}") from exc
    out, _ = sources.launch(
        engine,
        gateway=sources.OpenAIGateway(settings),
        settings=settings,
        body=body,
        principal=ui.principal,
        idempotency_key=f"ui:{idempotency_key}",
    )
    return RedirectResponse(f"/ui/jobs?{urlencode({'team': out.team or ''})}", status_code=303)


# --- prices ----------------------------------------------------------------------------------

Version = Annotated[str | None, Query(max_length=64)]


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
    chart = bar_chart(
        title=f"Prices changed from {older} to {newer}, USD per 1M tokens",
        categories=[f"{c.model} {c.field}" for c in shown],
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
