"""Setting, clearing and reading a pool's limits, and learning them from rate-limit headers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from service.errors import InvalidInput
from service.prices.service import catalogue_for
from service.settings import Settings
from service.usage.capacity import limit_out, locked_pool_row, pool_row, tier_name
from service.usage.headers import parse_ratelimit_headers
from service.usage.models import UsagePool
from service.usage.names import model_key, resolve_family
from service.usage.thresholds import evaluate_alert
from service.usage.windows import MAX_FUTURE

log = logging.getLogger(__name__)


def set_limit(
    session: Session,
    *,
    org: str,
    family: str,
    tokens_per_minute: int,
    requests_per_minute: int | None,
    by: str,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    family = resolve_family(session, family, as_of=now)
    pool = locked_pool_row(session, org=org, family=family, now=now)
    pool.configured_tokens_per_minute = tokens_per_minute
    pool.configured_requests_per_minute = requests_per_minute
    pool.configured_by = by
    pool.configured_at = now
    pool.updated_at = now
    session.add(pool)
    session.flush()
    log.info(
        "limit for %s/%s set by %s: %d TPM, %s RPM",
        org,
        family,
        by,
        tokens_per_minute,
        requests_per_minute,
    )
    evaluate_alert(session, org=org, family=family, now=now, settings=settings)
    return limit_out(pool, org=org, family=family, settings=settings)


def clear_limit(
    session: Session, *, org: str, family: str, by: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    family = resolve_family(session, family, as_of=now)
    pool = pool_row(session, org=org, family=family, lock=True)
    if pool is not None:
        pool.configured_tokens_per_minute = None
        pool.configured_requests_per_minute = None
        pool.configured_by = by
        pool.configured_at = now
        pool.updated_at = now
        session.add(pool)
        session.flush()
        log.info("configured limit for %s/%s cleared by %s", org, family, by)
        evaluate_alert(session, org=org, family=family, now=now, settings=settings)
    return limit_out(pool, org=org, family=family, settings=settings)


def get_limit(
    session: Session, *, org: str, family: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    family = resolve_family(session, family, as_of=now)
    return limit_out(
        pool_row(session, org=org, family=family), org=org, family=family, settings=settings
    )


def list_limits(session: Session, *, org: str, settings: Settings) -> dict[str, Any]:
    pools = {
        p.family: p
        for p in session.execute(select(UsagePool).where(col(UsagePool.org) == org)).scalars()
    }
    return {
        "org": org,
        "tier": tier_name(settings),
        "limits": [
            limit_out(pools.get(f), org=org, family=f, settings=settings)
            for f in catalogue_for(session).families
        ],
    }


def ingest_ratelimit_headers(
    session: Session,
    *,
    org: str,
    model: str,
    headers: dict[str, str | int],
    observed_at: datetime | None,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Learn a pool's real limits and its remaining capacity from one response's headers."""
    seen = observed_at or now
    if seen > now + MAX_FUTURE:
        raise InvalidInput("observed_at is more than 5 minutes in the future", code="bad_timestamp")
    parsed = parse_ratelimit_headers({k: str(v) for k, v in headers.items()})
    resolved = catalogue_for(session).resolve(model, as_of=seen.astimezone(UTC).date())
    family = resolved.family
    pool = locked_pool_row(session, org=org, family=family, now=now)
    if pool.observed_at is not None and pool.observed_at > seen:
        # A late report must not overwrite a newer observation.
        log.info("ignoring rate-limit headers for %s/%s observed before the last ones", org, family)
        return limit_out(pool, org=org, family=family, settings=settings)
    if parsed.limit_tokens is not None:
        pool.learned_tokens_per_minute = parsed.limit_tokens
    if parsed.limit_requests is not None:
        pool.learned_requests_per_minute = parsed.limit_requests
    pool.learned_from_model = model_key(resolved)
    pool.remaining_tokens = parsed.remaining_tokens
    pool.remaining_requests = parsed.remaining_requests
    pool.tokens_reset_at = None if parsed.reset_tokens is None else seen + parsed.reset_tokens
    pool.requests_reset_at = None if parsed.reset_requests is None else seen + parsed.reset_requests
    pool.observed_at = seen
    pool.updated_at = now
    session.add(pool)
    session.flush()
    evaluate_alert(session, org=org, family=family, now=now, settings=settings)
    return limit_out(pool, org=org, family=family, settings=settings)
