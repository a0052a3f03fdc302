"""Shared tokens-per-minute tracking: one pool per (organisation, model family).

OpenAI gives a fine-tuned model no capacity of its own: ``ft:gpt-3.5-turbo-0613:acme::abc`` draws
from the same TPM/RPM limit as base gpt-3.5-turbo. Every model name therefore resolves through the
pricing catalogue to its family, and usage is counted against the family's pool, split by model
(the dated snapshot for base models, the full name for each ``ft:`` model).

**TPM counting rule.** A request counts ``prompt_tokens + max_tokens`` when ``max_tokens`` is
given, else ``prompt_tokens + completion_tokens`` — OpenAI's limiter reserves max_tokens up front.

**Windows.** Counters live in 10-second buckets. "Current" TPM/RPM is the sum of the bucket holding
``now`` and the five before it (so the last 50-60 seconds, never more than a minute). History is
the same buckets summed per minute. Reads touch only the buckets they need: latency does not grow
with stored history.

**Limits** per pool, for tokens and requests separately: set by an admin, else learned from
``x-ratelimit-limit-*`` headers, else the usage-tier default shipped with pricing; unknown if none.

**Threshold alerts.** After each write the pool's utilisation (the higher of tokens and requests
against their limits) is compared with the threshold: crossing above publishes a ``tpm.threshold``
event with state "above"; the pool re-arms (and publishes state "below") only after utilisation
falls under threshold minus the re-arm margin. One event per crossing, written in the same
transaction as the usage that caused it.

Every function takes ``now``: the router passes the real time, tests pass a fixed clock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from pricing.catalogue import Catalogue, ResolvedModel
from pricing.errors import ModelNotAvailableError, PricingError, UnknownModelError
from pricing.ratelimits import load_tier_table
from service.alerts.events import TPM_THRESHOLD, publish_event
from service.errors import InvalidInput
from service.prices.service import catalogue_for
from service.settings import Settings
from service.usage import store
from service.usage.headers import parse_ratelimit_headers
from service.usage.models import BUCKET_SECONDS, UsagePool
from service.usage.schemas import PlanIn, UsageEventIn
from service.usage.store import BucketKey, Counts

log = logging.getLogger(__name__)

WINDOW_BUCKETS = 60 // BUCKET_SECONDS
MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=7)
MAX_HISTORY = timedelta(days=31)
POOL_LIST_LOOKBACK = timedelta(hours=1)
_PCT = Decimal("0.1")
_MAX_LISTED_DUPLICATES = 100
_MAX_LISTED_ERRORS = 50


# --- names, clocks, limits -------------------------------------------------------------------


def default_org(settings: Settings) -> str:
    return settings.openai_organization or "default"


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _bucket(ts: int) -> int:
    return ts - ts % BUCKET_SECONDS


def _from_ts(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def model_key(resolved: ResolvedModel) -> str:
    """How a model appears in a pool's split: the snapshot for base models, the full ft: name."""
    return resolved.requested if resolved.fine_tuned else resolved.id


def is_fine_tuned_key(key: str) -> bool:
    # Catalogue ids never contain ':'; ft: and legacy davinci:ft- names always do.
    return ":" in key


def resolve_family(session: Session, name: str, *, as_of: datetime) -> str:
    """A family name as is, else the family of any model name (dated snapshot, alias, ft: name)."""
    catalogue = catalogue_for(session)
    key = name.strip().lower()
    if key in catalogue.families:
        return key
    try:
        return catalogue.resolve(name, as_of=as_of.date()).family
    except UnknownModelError as exc:
        families = [f for f in catalogue.families if f.startswith(key[:5])] if key else []
        raise UnknownModelError(
            name, list(dict.fromkeys([*exc.suggestions, *families]))[:5]
        ) from None


@dataclass(frozen=True)
class Limit:
    tokens_per_minute: int | None
    requests_per_minute: int | None
    tokens_source: str | None
    requests_source: str | None


def tier_name(settings: Settings) -> str:
    return settings.usage_tier or load_tier_table().default_tier


def effective_limit(pool: UsagePool | None, *, family: str, settings: Settings) -> Limit:
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


def _get_pool(session: Session, *, org: str, family: str, lock: bool = False) -> UsagePool | None:
    query = select(UsagePool).where(col(UsagePool.org) == org, col(UsagePool.family) == family)
    if lock:
        # populate_existing: the identity map may hold a copy read before the lock was taken.
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.execute(query).scalars().first()


def _get_or_create_pool(session: Session, *, org: str, family: str, now: datetime) -> UsagePool:
    """The pool row, locked for the rest of the transaction (created if missing, race-free)."""
    stmt = store.dialect_insert(session, store.POOLS).values(
        org=org, family=family, alert_state="below", alert_transitions=0, updated_at=now
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["org", "family"]))
    pool = _get_pool(session, org=org, family=family, lock=True)
    assert pool is not None
    return pool


def _limit_out(
    pool: UsagePool | None, *, org: str, family: str, settings: Settings
) -> dict[str, Any]:
    limit = effective_limit(pool, family=family, settings=settings)
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


def _pct(part: int, whole: int) -> Decimal:
    return Decimal(part) * 100 / Decimal(whole)


def _fmt_pct(value: Decimal | None) -> str | None:
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


def _utilisation(current: Counts, limit: Limit) -> Utilisation:
    return Utilisation(
        None if not limit.tokens_per_minute else _pct(current.tokens, limit.tokens_per_minute),
        None
        if not limit.requests_per_minute
        else _pct(current.requests, limit.requests_per_minute),
    )


def _window(now: datetime) -> tuple[int, int]:
    last = _bucket(_ts(now))
    return last - (WINDOW_BUCKETS - 1) * BUCKET_SECONDS, last


# --- ingest ------------------------------------------------------------------------------------


def _resolve_batch(
    catalogue: Catalogue, events: Sequence[UsageEventIn], days: Sequence[int]
) -> list[tuple[str, str]]:
    """(family, model key) of every event, or reject the whole batch naming each bad name once.

    Names resolve as of the event's UTC day (aliases move between snapshots over time)."""
    cache: dict[tuple[str, int], tuple[str, str] | PricingError] = {}
    resolved: list[tuple[str, str]] = []
    bad: dict[str, dict[str, Any]] = {}
    for index, (event, day) in enumerate(zip(events, days, strict=True)):
        found = cache.get((event.model, day))
        if found is None:
            try:
                model = catalogue.resolve(event.model, as_of=_from_ts(day * 86400).date())
                found = (model.family, model_key(model))
            except (UnknownModelError, ModelNotAvailableError) as exc:
                found = exc
            cache[(event.model, day)] = found
        if isinstance(found, PricingError):
            entry = bad.setdefault(
                event.model,
                {
                    "model": event.model,
                    "message": str(found),
                    "suggestions": found.suggestions
                    if isinstance(found, UnknownModelError)
                    else [],
                    "indices": [],
                },
            )
            if len(entry["indices"]) < _MAX_LISTED_ERRORS:
                entry["indices"].append(index)
            continue
        resolved.append(found)
    if bad:
        first = next(iter(bad.values()))
        names = ", ".join(repr(name) for name in bad)
        raise InvalidInput(
            f"unknown model{'s' if len(bad) > 1 else ''} {names}; nothing was recorded. "
            f"{first['message']}",
            code="unknown_model",
            model=first["model"],
            suggestions=first["suggestions"],
            unknown_models=list(bad.values()),
        )
    return resolved


def _check_timestamps(
    events: Sequence[UsageEventIn], stamps: Sequence[float], now: datetime
) -> None:
    latest = (now + MAX_FUTURE).timestamp()
    earliest = (now - MAX_AGE).timestamp()
    bad = [i for i, ts in enumerate(stamps) if not earliest <= ts <= latest]
    if not bad:
        return
    errors = [
        {
            "index": i,
            "timestamp": events[i].timestamp.isoformat(),
            "message": "more than 5 minutes in the future"
            if stamps[i] > latest
            else "older than 7 days",
        }
        for i in bad[:_MAX_LISTED_ERRORS]
    ]
    raise InvalidInput(
        f"{len(bad)} event(s) have a timestamp {errors[0]['message']} "
        f"(server time {now.isoformat()}); nothing was recorded",
        code="bad_timestamp",
        errors=errors,
    )


def tpm_tokens(event: UsageEventIn) -> int:
    """The TPM counting rule (see the module docstring)."""
    if event.max_tokens is not None:
        return event.prompt_tokens + event.max_tokens
    return event.prompt_tokens + event.completion_tokens


def ingest(
    session: Session, *, org: str, events: Sequence[UsageEventIn], now: datetime, settings: Settings
) -> dict[str, Any]:
    """Count a batch of usage events: all of it or, on any invalid event, nothing."""
    exact = [event.timestamp.timestamp() for event in events]
    _check_timestamps(events, exact, now)
    stamps = [int(ts) for ts in exact]  # floor: every moment of a second falls in one bucket
    resolved = _resolve_batch(catalogue_for(session), events, [ts // 86400 for ts in stamps])

    # De-duplicate inside the batch first (the first occurrence wins), then against the database.
    first_index: dict[str, int] = {}
    duplicates: list[str] = []
    for index, event in enumerate(events):
        rid = event.request_id
        if rid is None:
            continue
        if rid in first_index:
            duplicates.append(rid)
        else:
            first_index[rid] = index
    claimed = store.claim_request_ids(
        session, org=org, ids=[(rid, stamps[i]) for rid, i in first_index.items()]
    )
    duplicates.extend(rid for rid in first_index if rid not in claimed)

    # Plain lists in the hot loop: a 10,000-event batch folds into a few dozen bucket rows.
    sums: dict[BucketKey, list[int]] = {}
    for index, event in enumerate(events):
        rid = event.request_id
        if rid is not None and (first_index[rid] != index or rid not in claimed):
            continue
        family, key = resolved[index]
        ts = stamps[index]
        bucket_key = (org, family, ts - ts % BUCKET_SECONDS, key)
        row = sums.get(bucket_key)
        if row is None:
            row = sums[bucket_key] = [0, 0, 0, 0]
        row[0] += tpm_tokens(event)
        row[1] += 1
        row[2] += event.prompt_tokens
        row[3] += event.completion_tokens
    counts = {k: Counts(*v) for k, v in sums.items()}
    store.add_to_buckets(session, counts)

    per_family: dict[str, Counts] = {}
    for (_, family, _, _), c in counts.items():
        per_family[family] = per_family.get(family, Counts()) + c
    for family in sorted(per_family):
        evaluate_alert(session, org=org, family=family, now=now, settings=settings)
    accepted = sum(c.requests for c in per_family.values())
    log.info("usage for %s: %d accepted, %d duplicate(s)", org, accepted, len(duplicates))
    return {
        "org": org,
        "received": len(events),
        "accepted": accepted,
        "duplicates": len(duplicates),
        "duplicate_request_ids": duplicates[:_MAX_LISTED_DUPLICATES],
        "tokens_counted": sum(c.tokens for c in per_family.values()),
        "requests_counted": accepted,
        "pools": [
            {"family": f, "tokens": c.tokens, "requests": c.requests}
            for f, c in sorted(per_family.items())
        ],
    }


# --- threshold alerts --------------------------------------------------------------------------


def _current(session: Session, *, org: str, family: str, now: datetime) -> Counts:
    first, last = _window(now)
    return store.sum_counts(
        store.window_by_model(
            session, org=org, family=family, first_bucket=first, last_bucket=last
        ).values()
    )


def _wants_transition(state: str, util: Decimal | None, settings: Settings) -> str | None:
    if util is None:
        return None
    threshold = Decimal(settings.tpm_alert_threshold_pct)
    if state == "below" and util >= threshold:
        return "above"
    if state == "above" and util < threshold - settings.tpm_alert_rearm_pct:
        return "below"
    return None


def evaluate_alert(
    session: Session, *, org: str, family: str, now: datetime, settings: Settings
) -> None:
    """Publish a tpm.threshold event when the pool crossed its threshold (one per crossing)."""
    pool = _get_pool(session, org=org, family=family)
    limit = effective_limit(pool, family=family, settings=settings)
    util = _utilisation(_current(session, org=org, family=family, now=now), limit)
    if _wants_transition(pool.alert_state if pool else "below", util.highest, settings) is None:
        return  # the common case: no lock taken
    # Re-check under the pool's row lock so two replicas cannot both announce one crossing.
    pool = _get_or_create_pool(session, org=org, family=family, now=now)
    limit = effective_limit(pool, family=family, settings=settings)
    current = _current(session, org=org, family=family, now=now)
    util = _utilisation(current, limit)
    state = _wants_transition(pool.alert_state, util.highest, settings)
    if state is None:
        return
    pool.alert_state = state
    pool.alert_transitions += 1
    pool.alert_changed_at = now
    pool.updated_at = now
    session.add(pool)
    session.flush()
    publish_event(
        session,
        kind=TPM_THRESHOLD,
        subject=f"{org}/{family}",
        dedupe_key=f"tpm.threshold:{org}:{family}:{pool.alert_transitions}",
        payload={
            "org": org,
            "family": family,
            "state": state,
            "utilisation_pct": _fmt_pct(util.highest),
            "threshold_pct": settings.tpm_alert_threshold_pct,
            "limited_by": util.limited_by,
            "tokens_per_minute": current.tokens,
            "limit_tokens_per_minute": limit.tokens_per_minute,
            "requests_per_minute": current.requests,
            "limit_requests_per_minute": limit.requests_per_minute,
            "at": now.isoformat(),
        },
    )
    log.info(
        "pool %s/%s is now %s its %d%% threshold (%s%%)",
        org,
        family,
        state,
        settings.tpm_alert_threshold_pct,
        _fmt_pct(util.highest),
    )


# --- limits ------------------------------------------------------------------------------------


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
    pool = _get_or_create_pool(session, org=org, family=family, now=now)
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
    return _limit_out(pool, org=org, family=family, settings=settings)


def clear_limit(
    session: Session, *, org: str, family: str, by: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    family = resolve_family(session, family, as_of=now)
    pool = _get_pool(session, org=org, family=family, lock=True)
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
    return _limit_out(pool, org=org, family=family, settings=settings)


def get_limit(
    session: Session, *, org: str, family: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    family = resolve_family(session, family, as_of=now)
    return _limit_out(
        _get_pool(session, org=org, family=family), org=org, family=family, settings=settings
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
            _limit_out(pools.get(f), org=org, family=f, settings=settings)
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
    pool = _get_or_create_pool(session, org=org, family=family, now=now)
    if pool.observed_at is not None and pool.observed_at > seen:
        # A late report must not overwrite a newer observation.
        log.info("ignoring rate-limit headers for %s/%s observed before the last ones", org, family)
        return _limit_out(pool, org=org, family=family, settings=settings)
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
    return _limit_out(pool, org=org, family=family, settings=settings)


# --- reads -------------------------------------------------------------------------------------


def _pool_view(
    session: Session,
    *,
    org: str,
    family: str,
    pool: UsagePool | None,
    by_model: dict[str, Counts],
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    first, _ = _window(now)
    total = store.sum_counts(by_model.values())
    limit = effective_limit(pool, family=family, settings=settings)
    util = _utilisation(total, limit)
    models = sorted(
        by_model.items(), key=lambda item: (is_fine_tuned_key(item[0]), -item[1].tokens, item[0])
    )
    threshold = settings.tpm_alert_threshold_pct
    return {
        "org": org,
        "family": family,
        "as_of": now,
        "window": {
            "start": _from_ts(first),
            "end": now,
            "seconds": round((now - _from_ts(first)).total_seconds(), 3),
        },
        "tokens_per_minute": total.tokens,
        "requests_per_minute": total.requests,
        "limit": _limit_out(pool, org=org, family=family, settings=settings),
        "headroom_tokens_per_minute": None
        if limit.tokens_per_minute is None
        else limit.tokens_per_minute - total.tokens,
        "headroom_requests_per_minute": (
            None
            if limit.requests_per_minute is None
            else limit.requests_per_minute - total.requests
        ),
        "tokens_utilisation_pct": _fmt_pct(util.tokens_pct),
        "requests_utilisation_pct": _fmt_pct(util.requests_pct),
        "utilisation_pct": _fmt_pct(util.highest),
        "models": [
            {
                "model": name,
                "fine_tuned": is_fine_tuned_key(name),
                "tokens_per_minute": c.tokens,
                "requests_per_minute": c.requests,
                "share_pct": _fmt_pct(_pct(c.tokens, total.tokens) if total.tokens else Decimal(0)),
            }
            for name, c in models
        ],
        "alert": {
            "threshold_pct": threshold,
            "rearm_below_pct": max(threshold - settings.tpm_alert_rearm_pct, 0),
            "state": pool.alert_state if pool else "below",
            "changed_at": pool.alert_changed_at if pool else None,
        },
    }


def get_pool(
    session: Session, *, org: str, family: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    """One pool now: current TPM/RPM (last 60 s), limit, headroom, utilisation, split by model."""
    family = resolve_family(session, family, as_of=now)
    first, last = _window(now)
    window = store.window_by_model(
        session, org=org, family=family, first_bucket=first, last_bucket=last
    )
    by_model = {model: c for (_, model), c in window.items()}
    return _pool_view(
        session,
        org=org,
        family=family,
        pool=_get_pool(session, org=org, family=family),
        by_model=by_model,
        now=now,
        settings=settings,
    )


def list_pools(session: Session, *, org: str, now: datetime, settings: Settings) -> dict[str, Any]:
    """Every pool with usage in the last hour or a configured or learned limit."""
    first, last = _window(now)
    window = store.window_by_model(session, org=org, first_bucket=first, last_bucket=last)
    pools = {
        p.family: p
        for p in session.execute(select(UsagePool).where(col(UsagePool.org) == org)).scalars()
    }
    families = store.families_since(
        session,
        org=org,
        families=catalogue_for(session).families,
        since_bucket=_bucket(_ts(now - POOL_LIST_LOOKBACK)),
    )
    families |= {
        f for f, p in pools.items() if p.configured_tokens_per_minute or p.learned_tokens_per_minute
    }
    families |= {family for family, _ in window}
    views = []
    for family in sorted(families):
        by_model = {model: c for (fam, model), c in window.items() if fam == family}
        views.append(
            _pool_view(
                session,
                org=org,
                family=family,
                pool=pools.get(family),
                by_model=by_model,
                now=now,
                settings=settings,
            )
        )
    return {"org": org, "as_of": now, "pools": views}


def _nearest_rank(values: list[int], pct: int) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    rank = -(-len(ordered) * pct // 100)  # ceil without floats
    return ordered[max(rank, 1) - 1]


def history(
    session: Session,
    *,
    org: str,
    family: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Per-minute series over [start, end) (every minute it overlaps), with peak and p95."""
    family = resolve_family(session, family, as_of=now)
    end = end or now
    start = start or end - timedelta(hours=1)
    if start >= end:
        raise InvalidInput("`from` must be before `to`", code="bad_range")
    if end - start > MAX_HISTORY:
        raise InvalidInput(
            f"a history covers at most {MAX_HISTORY.days} days; ask for a shorter range",
            code="bad_range",
        )
    if end > now + timedelta(days=1):
        raise InvalidInput(
            "`to` is more than a day ahead; no usage is recorded there", code="bad_range"
        )
    first_minute = _ts(start) - _ts(start) % 60
    end_ts = _ts(end) - _ts(end) % 60
    if end_ts < end.timestamp():
        end_ts += 60  # the minute `to` falls in is part of the range
    totals = store.minute_totals(
        session, org=org, family=family, start_ts=first_minute, end_ts=end_ts
    )
    series = [(minute, totals.get(minute, Counts())) for minute in range(first_minute, end_ts, 60)]
    peak_t = max(series, key=lambda item: item[1].tokens)
    peak_r = max(series, key=lambda item: item[1].requests)
    total = store.sum_counts(totals.values())
    pool = _get_pool(session, org=org, family=family)
    return {
        "org": org,
        "family": family,
        "start": _from_ts(first_minute),
        "end": _from_ts(end_ts),
        "minutes": [
            {
                "minute": _from_ts(minute),
                "tokens": c.tokens,
                "requests": c.requests,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
            }
            for minute, c in series
        ],
        "total": {
            "tokens": total.tokens,
            "requests": total.requests,
            "prompt_tokens": total.prompt_tokens,
            "completion_tokens": total.completion_tokens,
        },
        "peak": {
            "tokens_per_minute": peak_t[1].tokens,
            "tokens_minute": _from_ts(peak_t[0]) if peak_t[1].tokens else None,
            "requests_per_minute": peak_r[1].requests,
            "requests_minute": _from_ts(peak_r[0]) if peak_r[1].requests else None,
        },
        "p95": {
            "tokens_per_minute": _nearest_rank([c.tokens for _, c in series], 95),
            "requests_per_minute": _nearest_rank([c.requests for _, c in series], 95),
        },
        "limit": _limit_out(pool, org=org, family=family, settings=settings),
    }


# --- plan --------------------------------------------------------------------------------------


def _other_traffic(
    session: Session,
    *,
    org: str,
    family: str,
    exclude: str,
    basis: str,
    lookback_minutes: int,
    now: datetime,
) -> tuple[int, int]:
    """Peak or p95 TPM and RPM of the rest of the pool: the complete minutes of the lookback plus
    the current 60-second window (so a spike now is never planned around)."""
    current_minute = _ts(now) - _ts(now) % 60
    totals = store.minute_totals(
        session,
        org=org,
        family=family,
        start_ts=current_minute - lookback_minutes * 60,
        end_ts=current_minute,
        exclude_model=exclude,
    )
    series = [
        totals.get(m, Counts())
        for m in range(current_minute - lookback_minutes * 60, current_minute, 60)
    ]
    first, last = _window(now)
    window = store.window_by_model(
        session, org=org, family=family, first_bucket=first, last_bucket=last
    )
    series.append(store.sum_counts(c for (_, model), c in window.items() if model != exclude))
    tokens = [c.tokens for c in series]
    requests = [c.requests for c in series]
    if basis == "peak":
        return max(tokens), max(requests)
    return _nearest_rank(tokens, 95), _nearest_rank(requests, 95)


def plan(
    session: Session, *, org: str, request: PlanIn, now: datetime, settings: Settings
) -> dict[str, Any]:
    """Will requests_per_minute requests of tokens_per_request fit beside the rest of the pool?"""
    resolved = catalogue_for(session).resolve(request.model, as_of=now.date())
    family = resolved.family
    key = model_key(resolved)
    pool = _get_pool(session, org=org, family=family)
    limit = effective_limit(pool, family=family, settings=settings)
    if limit.tokens_per_minute is None:
        raise InvalidInput(
            f"no tokens-per-minute limit is known for the {family} pool of {org}: none is "
            f"configured, "
            f"none was learned from x-ratelimit headers and usage tier {tier_name(settings)} "
            f"lists none",
            code="limit_unknown",
            family=family,
            how_to_fix=(
                f"PUT /v1/usage/limits/{family} or POST /v1/usage/ratelimit with a "
                f"response's headers"
            ),
        )
    per_request = request.request_tokens()
    need_t = request.requests_per_minute * per_request
    need_r = request.requests_per_minute
    other_t, other_r = _other_traffic(
        session,
        org=org,
        family=family,
        exclude=key,
        basis=request.basis,
        lookback_minutes=request.lookback_minutes,
        now=now,
    )
    avail_t = max(limit.tokens_per_minute - other_t, 0)
    avail_r = (
        None if limit.requests_per_minute is None else max(limit.requests_per_minute - other_r, 0)
    )
    short_t = max(need_t - avail_t, 0)
    short_r = 0 if avail_r is None else max(need_r - avail_r, 0)
    fits = short_t == 0 and short_r == 0
    max_rpm = avail_t // per_request
    if avail_r is not None:
        max_rpm = min(max_rpm, avail_r)
    max_tokens = avail_t // need_r if (avail_r is None or need_r <= avail_r) else 0
    after = Utilisation(
        _pct(other_t + need_t, limit.tokens_per_minute),
        None
        if not limit.requests_per_minute
        else _pct(other_r + need_r, limit.requests_per_minute),
    )
    after_pct = after.highest or Decimal(0)
    figure = "peak" if request.basis == "peak" else "95th-percentile minute"
    if fits:
        summary = (
            f"Fits: {need_t:,} TPM and {need_r:,} RPM beside the rest of the {family} pool "
            f"({other_t:,} TPM at its {figure} over the last {request.lookback_minutes} min) "
            f"brings it to {_fmt_pct(after_pct)}% of the limit."
        )
    else:
        parts = []
        if short_t:
            parts.append(f"{short_t:,} TPM")
        if short_r:
            parts.append(f"{short_r:,} RPM")
        summary = (
            f"Does not fit: short by {' and '.join(parts)}. At {per_request:,} tokens per request "
            f"at most {max_rpm:,} requests per minute fit beside the rest of the {family} pool "
            f"({other_t:,} TPM at its {figure} over the last {request.lookback_minutes} min)."
        )
    return {
        "org": org,
        "model": key,
        "requested_model": request.model,
        "family": family,
        "fine_tuned": resolved.fine_tuned,
        "as_of": now,
        "request": {
            "requests_per_minute": need_r,
            "tokens_per_request": per_request,
            "tokens_per_minute": need_t,
        },
        "limit": _limit_out(pool, org=org, family=family, settings=settings),
        "other_traffic": {
            "basis": request.basis,
            "lookback_minutes": request.lookback_minutes,
            "tokens_per_minute": other_t,
            "requests_per_minute": other_r,
            "excluded_model": key,
        },
        "available": {"tokens_per_minute": avail_t, "requests_per_minute": avail_r},
        "fits": fits,
        "short_by": None
        if fits
        else {"tokens_per_minute": short_t, "requests_per_minute": short_r},
        "would_fit": {"max_requests_per_minute": max_rpm, "max_tokens_per_request": max_tokens},
        "utilisation_after_pct": _fmt_pct(after_pct),
        "alert_threshold_pct": settings.tpm_alert_threshold_pct,
        "above_alert_threshold": after_pct >= settings.tpm_alert_threshold_pct,
        "summary": summary,
    }


# --- retention ---------------------------------------------------------------------------------


def prune(session: Session, *, now: datetime, settings: Settings) -> tuple[int, int]:
    """Forget request ids whose events can no longer be accepted, and buckets past retention."""
    # An event older than MAX_AGE is rejected anyway, so its id cannot be counted twice after this.
    ids = store.prune_request_ids(session, before_ts=_ts(now - MAX_AGE - timedelta(hours=1)))
    buckets = store.prune_buckets(
        session, before_ts=_ts(now - timedelta(days=settings.usage_retention_days))
    )
    if ids or buckets:
        log.info("usage retention: pruned %d request id(s) and %d bucket(s)", ids, buckets)
    return ids, buckets
