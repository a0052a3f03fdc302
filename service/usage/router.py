"""Usage API: ingest usage and rate-limit headers, read pools and history, plan a workload."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.engine import Connection
from sqlmodel import Session

from service.deps import (
    AdminKey,
    BearerDep,
    EstimateKey,
    ReadKey,
    SessionDep,
    SettingsDep,
    keyed_read,
)
from service.errors import InvalidInput
from service.observability.metrics import count_usage_events
from service.settings import Settings
from service.types import utcnow
from service.usage import history, limits, names, planner, pools
from service.usage import ingest as usage_ingest
from service.usage.schemas import (
    MAX_BATCH,
    PRINTABLE,
    TPM_RULE,
    HistoryOut,
    LimitIn,
    LimitList,
    LimitOut,
    PlanIn,
    PlanOut,
    PoolList,
    PoolOut,
    RateLimitIn,
    UsageBatchIn,
    UsageBody,
    UsageIngestOut,
)

router = APIRouter(tags=["usage"])


async def current_time() -> datetime:
    """The request's clock; tests replace it through FastAPI's dependency overrides.

    Async because it does no I/O: FastAPI runs a sync dependency in the threadpool, a hop that
    cost more than the pools view's own work."""
    return utcnow()


Now = Annotated[datetime, Depends(current_time)]
OrgQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description='organisation; default: the service\'s OpenAI organisation, else "default"',
    ),
]
FamilyPath = Annotated[
    str,
    Path(
        min_length=1,
        pattern=PRINTABLE,
        max_length=200,
        description="a family (gpt-3.5-turbo) or any model name in it, incl. ft: names",
    ),
]
_UNKNOWN_MODEL: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "invalid event, unknown model (with `suggestions`) or bad timestamp; "
        "nothing was recorded"
    }
}


def _org(org: str | None, settings: Settings) -> str:
    return org or names.default_org(settings)


@router.post(
    "/v1/usage",
    response_model=UsageIngestOut,
    summary="Record usage: one event or a batch",
    description=(
        f'One event, or `{{"events": [...]}}` with up to {MAX_BATCH:,} events. {TPM_RULE} '
        "A `request_id` counts once per organisation, however often and to whichever replica it "
        "is sent. "
        "Token counts must be whole numbers from 0 to 10,000,000; timestamps need a UTC offset "
        "and must lie "
        "between 7 days ago and 5 minutes ahead. One bad event rejects the whole batch with 422 "
        "and records nothing."
    ),
    responses=_UNKNOWN_MODEL,
)
def ingest(
    body: UsageBody, session: SessionDep, settings: SettingsDep, now: Now, _: EstimateKey
) -> dict[str, Any]:
    events = body.events if isinstance(body, UsageBatchIn) else [body]
    result = usage_ingest.ingest(
        session, org=_org(body.org, settings), events=events, now=now, settings=settings
    )
    count_usage_events(result["accepted"])
    return result


@router.post(
    "/v1/usage/ratelimit",
    response_model=LimitOut,
    summary="Learn a pool's limits from x-ratelimit-* headers",
    description=(
        "Send the `x-ratelimit-limit-*`, `x-ratelimit-remaining-*` and `x-ratelimit-reset-*` "
        "headers of an "
        "OpenAI response (names in any case; other headers are ignored). Resets are durations "
        "such as `6m0s`, "
        "`1s`, `12ms`, `1h2m3.5s`. The limits learned apply to the model's whole family pool "
        "unless an admin "
        "configured one."
    ),
    responses={
        422: {"description": "no rate-limit headers, an unreadable value, or an unknown model"}
    },
)
def ratelimit(
    body: RateLimitIn, session: SessionDep, settings: SettingsDep, now: Now, _: EstimateKey
) -> dict[str, Any]:
    return limits.ingest_ratelimit_headers(
        session,
        org=_org(body.org, settings),
        model=body.model,
        headers=body.headers,
        observed_at=body.observed_at,
        now=now,
        settings=settings,
    )


@router.get(
    "/v1/usage/limits", response_model=LimitList, summary="The limit in force for every family"
)
def list_limits(
    session: SessionDep, settings: SettingsDep, _: ReadKey, org: OrgQuery = None
) -> dict[str, Any]:
    return limits.list_limits(session, org=_org(org, settings), settings=settings)


@router.get(
    "/v1/usage/limits/{family}",
    response_model=LimitOut,
    summary="One family's limit and where it came from",
)
def get_limit(
    family: FamilyPath,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: ReadKey,
    org: OrgQuery = None,
) -> dict[str, Any]:
    return limits.get_limit(
        session, org=_org(org, settings), family=family, now=now, settings=settings
    )


@router.put(
    "/v1/usage/limits/{family}",
    response_model=LimitOut,
    summary="Set a family's limit (admin)",
    description=(
        "An explicit limit wins over limits learned from headers and the usage-tier default."
    ),
)
def put_limit(
    family: FamilyPath,
    body: LimitIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    principal: AdminKey,
    org: OrgQuery = None,
) -> dict[str, Any]:
    return limits.set_limit(
        session,
        org=_org(org, settings),
        family=family,
        tokens_per_minute=body.tokens_per_minute,
        requests_per_minute=body.requests_per_minute,
        by=principal.name,
        now=now,
        settings=settings,
    )


@router.delete(
    "/v1/usage/limits/{family}",
    response_model=LimitOut,
    summary="Drop a configured limit (admin); learned or tier limits apply again",
)
def delete_limit(
    family: FamilyPath,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    principal: AdminKey,
    org: OrgQuery = None,
) -> dict[str, Any]:
    return limits.clear_limit(
        session,
        org=_org(org, settings),
        family=family,
        by=principal.name,
        now=now,
        settings=settings,
    )


@router.get(
    "/v1/usage/pools",
    response_model=PoolList,
    summary=(
        "Every pool with usage in the last hour or a known limit: TPM/RPM now, headroom, "
        "split by model"
    ),
)
async def list_pools(
    request: Request,
    credentials: BearerDep,
    settings: SettingsDep,
    now: Now,
    org: OrgQuery = None,
) -> dict[str, Any]:
    # Async, with the key check and the view in one worker-thread call on one connection, the
    # check inside the view's first statement: each thread hop, round trip and the request-long
    # session's commit cost more than the view itself.
    return await run_in_threadpool(
        _pools_view, request, credentials, org=_org(org, settings), now=now, settings=settings
    )


def _pools_view(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    org: str,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    def read(connection: Connection, key_id: int) -> dict[str, Any] | None:
        with Session(bind=connection) as session:
            return pools.list_pools_for_key(
                session, key_id=key_id, org=org, now=now, settings=settings
            )

    return keyed_read(request, credentials, read)


@router.get(
    "/v1/usage/pools/{family}",
    response_model=PoolOut,
    summary="One pool now",
    description=(
        "Current tokens and requests per minute — the last minute to 10-second resolution: the "
        "bucket holding now and the five before it (see `window`) — the limit, headroom and "
        "utilisation, split by model: the base snapshot and each ft: model. " + TPM_RULE
    ),
)
def get_pool(
    family: FamilyPath,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: ReadKey,
    org: OrgQuery = None,
) -> dict[str, Any]:
    return pools.get_pool(
        session, org=_org(org, settings), family=family, now=now, settings=settings
    )


@router.get(
    "/v1/usage/pools/{family}/history",
    response_model=HistoryOut,
    summary="Per-minute series with peak and p95",
    description=(
        "Every minute overlapping [from, to) (default: the last hour; at most 31 days), "
        "idle minutes as zeros."
    ),
)
def get_history(
    family: FamilyPath,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: ReadKey,
    start: Annotated[
        datetime | None, Query(alias="from", description="ISO 8601 with offset; default to - 1 h")
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="ISO 8601 with offset; default now")
    ] = None,
    org: OrgQuery = None,
) -> dict[str, Any]:
    return history.history(
        session,
        org=_org(org, settings),
        family=family,
        start=_aware(start, "from"),
        end=_aware(end, "to"),
        now=now,
        settings=settings,
    )


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(
            f"`{name}` needs a UTC offset, e.g. 2024-05-01T12:00:00Z", code="bad_range"
        )
    return value


@router.post(
    "/v1/usage/plan",
    response_model=PlanOut,
    summary="Will this workload fit in its pool?",
    description=(
        "A model (any name, incl. ft:), requests per minute and tokens per request (or "
        "prompt_tokens with "
        "max_tokens/completion_tokens, counted by the TPM rule). The answer weighs the family's "
        "limit against "
        "the rest of the pool — its peak (or p95, by `basis`) minute over `lookback_minutes`, and "
        "its last 60 "
        "seconds — and says whether it fits, by how much it does not, and what would fit."
    ),
    responses={
        422: {
            "description": "unknown model, or no limit known for the pool (`code`: limit_unknown)"
        }
    },
)
def plan(
    body: PlanIn, session: SessionDep, settings: SettingsDep, now: Now, _: ReadKey
) -> dict[str, Any]:
    return planner.plan(
        session, org=_org(body.org, settings), request=body, now=now, settings=settings
    )
