"""What a pool may use: its effective limits, where they come from, and how full it is.

**Limits** per pool, for tokens and requests separately: set by an admin, else learned from
``x-ratelimit-limit-*`` headers, else the usage-tier default shipped with pricing; unknown if none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import Session, col

from pricing.ratelimits import load_tier_table
from service.settings import Settings
from service.usage import store
from service.usage.models import UsagePool
from service.usage.store import Counts

_PCT = Decimal("0.1")


class PoolLimits(Protocol):
    """What the limit reads of a pool: a UsagePool row, or a plain snapshot of one."""

    @property
    def configured_tokens_per_minute(self) -> int | None: ...
    @property
    def configured_requests_per_minute(self) -> int | None: ...
    @property
    def configured_by(self) -> str | None: ...
    @property
    def configured_at(self) -> datetime | None: ...
    @property
    def learned_tokens_per_minute(self) -> int | None: ...
    @property
    def learned_requests_per_minute(self) -> int | None: ...
    @property
    def learned_from_model(self) -> str | None: ...
    @property
    def remaining_tokens(self) -> int | None: ...
    @property
    def remaining_requests(self) -> int | None: ...
    @property
    def tokens_reset_at(self) -> datetime | None: ...
    @property
    def requests_reset_at(self) -> datetime | None: ...
    @property
    def observed_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Limit:
    tokens_per_minute: int | None
    requests_per_minute: int | None
    tokens_source: str | None
    requests_source: str | None


def tier_name(settings: Settings) -> str:
    return settings.usage_tier or load_tier_table().default_tier


def effective_limit(pool: PoolLimits | None, *, family: str, settings: Settings) -> Limit:
    tier = tier_name(settings)
    default = load_tier_table().limit(family, tier)
    candidates_t: list[tuple[int | None, str]] = []
    candidates_r: list[tuple[int | None, str]] = []
    if pool is not None:
        candidates_t += [
            (pool.configured_tokens_per_minute, "configured"),
            (pool.learned_tokens_per_minute, "headers"),
        ]
        candidates_r += [
            (pool.configured_requests_per_minute, "configured"),
            (pool.learned_requests_per_minute, "headers"),
        ]
    if default is not None:
        candidates_t.append((default.tokens_per_minute, f"tier:{tier}"))
        candidates_r.append((default.requests_per_minute, f"tier:{tier}"))
    tpm = next(((v, s) for v, s in candidates_t if v is not None), (None, None))
    rpm = next(((v, s) for v, s in candidates_r if v is not None), (None, None))
    return Limit(tpm[0], rpm[0], tpm[1], rpm[1])


def pool_row(session: Session, *, org: str, family: str, lock: bool = False) -> UsagePool | None:
    query = select(UsagePool).where(col(UsagePool.org) == org, col(UsagePool.family) == family)
    if lock:
        # populate_existing: the identity map may hold a copy read before the lock was taken.
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.execute(query).scalars().first()


def locked_pool_row(session: Session, *, org: str, family: str, now: datetime) -> UsagePool:
    """The pool row, locked for the rest of the transaction (created if missing, race-free)."""
    stmt = store.dialect_insert(session, store.POOLS).values(
        org=org, family=family, alert_state="below", alert_transitions=0, updated_at=now
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["org", "family"]))
    pool = pool_row(session, org=org, family=family, lock=True)
    assert pool is not None
    return pool


def limit_out(
    pool: PoolLimits | None,
    *,
    org: str,
    family: str,
    settings: Settings,
    limit: Limit | None = None,
) -> dict[str, Any]:
    """The limit as the API shows it (``limit``: the effective limit, if already worked out)."""
    limit = limit or effective_limit(pool, family=family, settings=settings)
    tier = tier_name(settings)
    default = load_tier_table().limit(family, tier)
    configured = None
    learned = None
    observed = None
    if pool is not None:
        if (
            pool.configured_tokens_per_minute is not None
            or pool.configured_requests_per_minute is not None
        ):
            configured = {
                "tokens_per_minute": pool.configured_tokens_per_minute,
                "requests_per_minute": pool.configured_requests_per_minute,
                "by": pool.configured_by,
                "at": pool.configured_at,
            }
        if (
            pool.learned_tokens_per_minute is not None
            or pool.learned_requests_per_minute is not None
        ):
            learned = {
                "tokens_per_minute": pool.learned_tokens_per_minute,
                "requests_per_minute": pool.learned_requests_per_minute,
                "model": pool.learned_from_model,
                "observed_at": pool.observed_at,
            }
        if pool.observed_at is not None:
            observed = {
                "remaining_tokens": pool.remaining_tokens,
                "remaining_requests": pool.remaining_requests,
                "tokens_reset_at": pool.tokens_reset_at,
                "requests_reset_at": pool.requests_reset_at,
                "observed_at": pool.observed_at,
            }
    return {
        "org": org,
        "family": family,
        "tokens_per_minute": limit.tokens_per_minute,
        "requests_per_minute": limit.requests_per_minute,
        "tokens_source": limit.tokens_source,
        "requests_source": limit.requests_source,
        "configured": configured,
        "learned": learned,
        "tier_default": None
        if default is None
        else {
            "tier": tier,
            "tokens_per_minute": default.tokens_per_minute,
            "requests_per_minute": default.requests_per_minute,
        },
        "observed": observed,
    }


def pct(part: int, whole: int) -> Decimal:
    return Decimal(part) * 100 / Decimal(whole)


def fmt_pct(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(_PCT, rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Utilisation:
    tokens_pct: Decimal | None
    requests_pct: Decimal | None

    @property
    def highest(self) -> Decimal | None:
        known = [v for v in (self.tokens_pct, self.requests_pct) if v is not None]
        return max(known) if known else None

    @property
    def limited_by(self) -> str | None:
        if self.highest is None:
            return None
        return "tokens" if self.tokens_pct == self.highest else "requests"


def utilisation(current: Counts, limit: Limit) -> Utilisation:
    return Utilisation(
        None if not limit.tokens_per_minute else pct(current.tokens, limit.tokens_per_minute),
        None if not limit.requests_per_minute else pct(current.requests, limit.requests_per_minute),
    )
