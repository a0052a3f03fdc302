"""HTTP routes of jobs and budgets: thin wrappers over service functions."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from pricing.money import format_usd
from service.auth.service import Principal
from service.clock import TodayDep
from service.deps import (
    AdminKey,
    EngineDep,
    LaunchKey,
    ReadKey,
    SessionDep,
    SettingsDep,
    get_principal,
)
from service.errors import Forbidden, InvalidInput
from service.jobs import budgets, launch, lost, service
from service.jobs.gateway import OpenAIGateway
from service.jobs.schemas import (
    TEAM_PATTERN,
    BudgetIn,
    BudgetList,
    BudgetOut,
    CloseIn,
    JobIn,
    JobOut,
    JobPage,
    PreviewOut,
    WatchIn,
)

router = APIRouter(tags=["jobs"])
budgets_router = APIRouter(tags=["budgets"])
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"

FINE_TUNING_CLOSED = (
    "OpenAI does not accept this job today (UTC), checked before any call to OpenAI "
    "(code fine_tuning_closed): fine-tuning of the model or method closed, the model shut down, "
    "or no new fine-tuning job is accepted from 2027-01-06; the detail names the date and "
    "OpenAI's replacement, also given as model, method, as_of and replacement"
)
PROBLEMS: dict[int | str, dict[str, Any]] = {
    402: {"description": "OpenAI quota exhausted (code insufficient_quota)"},
    409: {
        "description": "over the team's monthly budget (code over_budget, with the figures); or "
        + FINE_TUNING_CLOSED
    },
    422: {
        "description": "format errors with line numbers (format_errors), too few examples, unknown "
        "model (suggestions), OpenAI rejected the request (openai_rejected, its message verbatim)"
    },
    503: {
        "description": "OpenAI unavailable, or the create's outcome is unknown "
        "(launch_outcome_unknown: repeat with the same Idempotency-Key)"
    },
}


def _launch_or_estimate(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not (principal.has("launch") or principal.has("estimate")):
        raise Forbidden("this API key lacks the 'launch' or 'estimate' scope")
    return principal


@router.post(
    "/v1/jobs",
    response_model=JobOut,
    status_code=201,
    summary="Launch a fine-tuning job",
    responses={200: {"description": "the Idempotency-Key replayed an earlier launch"}, **PROBLEMS},
)
def launch_job(
    body: JobIn,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    principal: LaunchKey,
    today: TodayDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="same key, same launch: never a second job",
        ),
    ] = None,
) -> JobOut:
    out, created = launch.launch(
        engine,
        gateway=OpenAIGateway(settings),
        settings=settings,
        body=body,
        principal=principal,
        idempotency_key=idempotency_key,
        today=today,
    )
    if not created:
        response.status_code = 200
    return out


@router.post(
    "/v1/jobs/preview",
    response_model=PreviewOut,
    summary="Estimate and budget check; creates nothing",
    responses={**PROBLEMS, 409: {"description": FINE_TUNING_CLOSED}},
)
def preview_job(
    body: JobIn,
    engine: EngineDep,
    settings: SettingsDep,
    today: TodayDep,
    _: Annotated[Principal, Depends(_launch_or_estimate)],
) -> PreviewOut:
    return launch.preview(
        engine, gateway=OpenAIGateway(settings), settings=settings, body=body, today=today
    )


@router.post(
    "/v1/jobs/watch",
    response_model=JobOut,
    status_code=201,
    summary="Watch a job launched outside ratecard",
    responses={
        200: {"description": "already watched"},
        404: {"description": "no such job at OpenAI"},
    },
)
def watch_job(
    body: WatchIn,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    principal: LaunchKey,
) -> JobOut:
    out, created = service.watch_job(
        engine, gateway=OpenAIGateway(settings), body=body, principal=principal
    )
    if not created:
        response.status_code = 200
    return out


@router.get("/v1/jobs", response_model=JobPage, summary="Jobs, newest first")
def list_jobs(
    session: SessionDep,
    _: ReadKey,
    status: Annotated[str | None, Query(max_length=40)] = None,
    team: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> JobPage:
    items, next_cursor = service.list_jobs(
        session, status=status, team=team, limit=limit, cursor=cursor
    )
    return JobPage(items=items, next_cursor=next_cursor)


@router.get(
    "/v1/jobs/{job_id}", response_model=JobOut, summary="One job, by ratecard id or OpenAI ftjob id"
)
def get_job(
    job_id: Annotated[str, Path(max_length=120)], session: SessionDep, _: ReadKey
) -> JobOut:
    return service.to_out(session, service.find_job(session, ref=job_id))


@router.post(
    "/v1/jobs/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job at OpenAI",
    responses={
        404: {"description": "no such job"},
        409: {
            "description": "already finished (already_finished), never launched (not_launched), "
            "OpenAI no longer shows it (job_lost: close or forget it instead), or OpenAI "
            "refused (cannot_cancel)"
        },
    },
)
def cancel_job(
    job_id: str, engine: EngineDep, settings: SettingsDep, principal: LaunchKey
) -> JobOut:
    return service.cancel_job(
        engine, gateway=OpenAIGateway(settings), ref=job_id, principal=principal
    )


LOST_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the API key lacks the 'admin' scope"},
    404: {"description": "no such job"},
}


@router.post(
    "/v1/jobs/{job_id}/close",
    response_model=JobOut,
    summary="Close a lost job (admin)",
    description="A job OpenAI no longer shows is marked `lost` by the watcher after "
    "`watch_lost_after_checks` misses in a row; an admin closes it for good with a reason "
    "(status `closed`, error code `closed_by_admin`). It counts as spend only if OpenAI had "
    "reported trained tokens.",
    responses={
        **LOST_PROBLEMS,
        409: {"description": "the job is not lost (code job_not_lost, with job_status)"},
    },
)
def close_job(
    job_id: Annotated[str, Path(max_length=120)],
    body: CloseIn,
    session: SessionDep,
    principal: AdminKey,
) -> JobOut:
    return lost.close_job(session, ref=job_id, body=body, principal=principal)


@router.delete(
    "/v1/jobs/{job_id}",
    status_code=204,
    summary="Forget a lost or closed job (admin)",
    description="Deletes the job and its timeline; reports and budgets no longer count it.",
    responses={
        **LOST_PROBLEMS,
        409: {"description": "the job is neither lost nor closed (code job_not_lost)"},
    },
)
def forget_job(
    job_id: Annotated[str, Path(max_length=120)], session: SessionDep, principal: AdminKey
) -> Response:
    lost.forget_job(session, ref=job_id, principal=principal)
    return Response(status_code=204)


# ------------------------------------------------------------------------------------ budgets


def _budget_out(status: budgets.BudgetStatus) -> BudgetOut:
    remaining = status.remaining_usd
    return BudgetOut(
        team=status.team,
        month=status.month.label,
        monthly_usd=None if status.monthly_usd is None else format_usd(status.monthly_usd),
        spent_usd=format_usd(status.spent_usd),
        remaining_usd=None if remaining is None else format_usd(remaining),
        jobs=status.jobs,
        updated_by=status.updated_by,
        updated_at=status.updated_at,
    )


MonthQuery = Annotated[
    str | None, Query(pattern=MONTH, description="YYYY-MM (UTC); default this month")
]


@budgets_router.get(
    "/v1/budgets", response_model=BudgetList, summary="Every team's budget and spend"
)
def list_budgets(session: SessionDep, _: ReadKey, month: MonthQuery = None) -> BudgetList:
    period = budgets.parse_month(month)
    return BudgetList(
        month=period.label,
        items=[_budget_out(s) for s in budgets.list_budgets(session, month=period)],
    )


@budgets_router.get(
    "/v1/budgets/{team}", response_model=BudgetOut, summary="A team's budget and spend"
)
def get_budget(team: str, session: SessionDep, _: ReadKey, month: MonthQuery = None) -> BudgetOut:
    return _budget_out(budgets.budget_status(session, team=team, month=budgets.parse_month(month)))


@budgets_router.put(
    "/v1/budgets/{team}", response_model=BudgetOut, summary="Set a team's monthly budget (admin)"
)
def put_budget(team: str, body: BudgetIn, session: SessionDep, principal: AdminKey) -> BudgetOut:
    budgets.put_budget(
        session, team=_team(team), monthly_usd=body.monthly_usd, updated_by=principal.name
    )
    return _budget_out(budgets.budget_status(session, team=team, month=budgets.parse_month(None)))


@budgets_router.delete(
    "/v1/budgets/{team}", status_code=204, summary="Remove a team's budget (admin)"
)
def delete_budget(team: str, session: SessionDep, principal: AdminKey) -> Response:
    budgets.delete_budget(session, team=team, deleted_by=principal.name)
    return Response(status_code=204)


def _team(team: str) -> str:
    if not re.fullmatch(TEAM_PATTERN, team):
        raise InvalidInput(
            f"team names are 1-100 letters, digits, spaces, '.', '_' or '-': {team!r}"
        )
    return team
