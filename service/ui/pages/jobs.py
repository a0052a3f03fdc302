"""Job pages: running and finished jobs, one job's timeline, the launch form."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from service.clock import TodayDep
from service.deps import EngineDep, SessionDep, SettingsDep
from service.errors import Forbidden, InvalidInput
from service.jobs.schemas import TEAM_PATTERN
from service.ui import sources
from service.ui.charts import Moment, Series, bar_chart, timeline
from service.ui.web import AnySession, ReadSession, UiRoute, check_csrf, render, same_origin

router = APIRouter(include_in_schema=False, route_class=UiRoute)  # under /ui
Team = Annotated[str | None, Query(max_length=100, pattern=TEAM_PATTERN)]


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


@router.get("/jobs/{job_id}")
def job(
    request: Request,
    session: SessionDep,
    ui: ReadSession,
    job_id: Annotated[str, Path(min_length=1, max_length=120)],
) -> Response:
    out = sources.to_out(session, sources.find_job(session, ref=job_id))
    costs = bar_chart(
        title=f"{out.id}: estimated vs actual cost, USD",
        categories=[out.id[-8:]],
        series=[
            Series("estimated", [Decimal(out.estimated_cost_usd or 0)]),
            Series("actual", [Decimal(out.actual_cost_usd or 0)]),
        ],
        unit=" USD",
        chart_id="job-costs-chart",
    )
    events = timeline(
        title=f"{out.id}: timeline",
        moments=[Moment(e.created_at, e.message, e.level) for e in out.events],
        chart_id="job-timeline",
    )
    return render(request, "job.html", session=ui, job=out, costs=costs, events=events)


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
    today: TodayDep,
    csrf: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    # The scope first, as the REST API does: a read key is refused whatever the form holds.
    if not ui.principal.has("launch"):
        raise Forbidden("this API key lacks the 'launch' scope")
    check_csrf(ui, csrf)
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
        today=today,
    )
    return RedirectResponse(f"/ui/jobs?{urlencode({'team': out.team or ''})}", status_code=303)
