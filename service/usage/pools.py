"""The pools now: current TPM/RPM, limit, headroom, utilisation and split by model."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from pricing.errors import PricingError
from service.prices.service import Reference, load_reference
from service.settings import Settings
from service.usage import store
from service.usage.capacity import effective_limit, fmt_pct, limit_out, pct, pool_row, utilisation
from service.usage.models import UsagePool
from service.usage.names import is_fine_tuned_key, resolve_family
from service.usage.store import Counts
from service.usage.windows import bucket_start, current_window, from_ts, to_ts

POOL_LIST_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True)
class PoolSnapshot:
    """A pool row as the view reads it: loading plain rows costs a fraction of ORM objects."""

    family: str
    configured_tokens_per_minute: int | None
    configured_requests_per_minute: int | None
    configured_by: str | None
    configured_at: datetime | None
    learned_tokens_per_minute: int | None
    learned_requests_per_minute: int | None
    learned_from_model: str | None
    remaining_tokens: int | None
    remaining_requests: int | None
    tokens_reset_at: datetime | None
    requests_reset_at: datetime | None
    observed_at: datetime | None
    alert_state: str
    alert_changed_at: datetime | None


_SNAPSHOT_FIELDS = [f.name for f in fields(PoolSnapshot)]


# Each pool's warnings, per price reference (one per revision, service.prices), family, models
# and day: the pools view lists the same few pools on every request, and the catalogue walk cost
# as much as the rest of a pool's view. The reference is kept beside its id, so an id reused
# after the reference is gone never matches.
_WarningsKey = tuple[int, str, tuple[str, ...], date]
_warnings: dict[_WarningsKey, tuple[Reference, list[str]]] = {}
_WARNINGS_KEPT = 1024


def shutdown_warnings(
    reference: Reference, *, family: str, models: list[str], now: datetime
) -> list[str]:
    """What a pool must say about shut-down models: the whole family, or models still in use."""
    key = (id(reference), family, tuple(models), now.date())
    hit = _warnings.get(key)
    if hit is not None and hit[0] is reference:
        return list(hit[1])
    warnings = _shutdown_warnings(reference, family=family, models=models, today=now.date())
    if len(_warnings) >= _WARNINGS_KEPT:
        _warnings.clear()
    _warnings[key] = (reference, warnings)
    return list(warnings)


def _shutdown_warnings(
    reference: Reference, *, family: str, models: list[str], today: date
) -> list[str]:
    catalogue, lifecycle = reference.catalogue, reference.lifecycle
    warnings: list[str] = []
    members = [m for m in catalogue.models.values() if m.family == family]
    statuses = [lifecycle.status(m, as_of=today) for m in members]
    if statuses and all(s.state == "shut_down" for s in statuses):
        last = max(s.shutdown_date for s in statuses if s.shutdown_date is not None)
        replacements = sorted({s.replacement for s in statuses if s.replacement})
        instead = f"; OpenAI recommends {', '.join(replacements)}" if replacements else ""
        warnings.append(
            f"every model of the {family} pool has shut down (the last on "
            f"{last.isoformat()}): requests to it fail{instead}"
        )
    for key in models:
        try:
            resolved = catalogue.resolve(key, as_of=today)
        except PricingError:
            continue  # counted under an older catalogue; nothing to say about it
        status = lifecycle.status(resolved.model, as_of=today, fine_tuned=resolved.fine_tuned)
        if status.state == "shut_down":
            warnings.extend(lifecycle.inference_warnings(resolved, as_of=today))
    return warnings


def _pool_view(
    reference: Reference,
    *,
    org: str,
    family: str,
    pool: UsagePool | PoolSnapshot | None,
    by_model: dict[str, Counts],
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    first, _ = current_window(now)
    total = store.sum_counts(by_model.values())
    limit = effective_limit(pool, family=family, settings=settings)
    util = utilisation(total, limit)
    models = sorted(
        by_model.items(), key=lambda item: (is_fine_tuned_key(item[0]), -item[1].tokens, item[0])
    )
    threshold = settings.tpm_alert_threshold_pct
    return {
        "org": org,
        "family": family,
        "as_of": now,
        "window": {
            "start": from_ts(first),
            "end": now,
            "seconds": round((now - from_ts(first)).total_seconds(), 3),
        },
        "tokens_per_minute": total.tokens,
        "requests_per_minute": total.requests,
        "limit": limit_out(pool, org=org, family=family, settings=settings, limit=limit),
        "headroom_tokens_per_minute": None
        if limit.tokens_per_minute is None
        else limit.tokens_per_minute - total.tokens,
        "headroom_requests_per_minute": (
            None
            if limit.requests_per_minute is None
            else limit.requests_per_minute - total.requests
        ),
        "tokens_utilisation_pct": fmt_pct(util.tokens_pct),
        "requests_utilisation_pct": fmt_pct(util.requests_pct),
        "utilisation_pct": fmt_pct(util.highest),
        "models": [
            {
                "model": name,
                "fine_tuned": is_fine_tuned_key(name),
                "tokens_per_minute": c.tokens,
                "requests_per_minute": c.requests,
                "share_pct": fmt_pct(pct(c.tokens, total.tokens) if total.tokens else Decimal(0)),
            }
            for name, c in models
        ],
        "warnings": shutdown_warnings(
            reference, family=family, models=[name for name, _ in models], now=now
        ),
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
    first, last = current_window(now)
    window = store.window_by_model(
        session, org=org, family=family, first_bucket=first, last_bucket=last
    )
    by_model = {model: c for (_, model), c in window.items()}
    return _pool_view(
        load_reference(session),
        org=org,
        family=family,
        pool=pool_row(session, org=org, family=family),
        by_model=by_model,
        now=now,
        settings=settings,
    )


def list_pools(session: Session, *, org: str, now: datetime, settings: Settings) -> dict[str, Any]:
    """Every pool with usage in the last hour or a configured or learned limit."""
    listing = _list_pools(session, key_id=None, org=org, now=now, settings=settings)
    assert listing is not None  # only a key that is no longer live gives None
    return listing


def list_pools_for_key(
    session: Session, *, key_id: int, org: str, now: datetime, settings: Settings
) -> dict[str, Any] | None:
    """list_pools, with the caller's key checked live in the same statement as the pool rows
    (service.deps.keyed_read); None, with nothing more read, when it no longer is."""
    return _list_pools(session, key_id=key_id, org=org, now=now, settings=settings)


def _list_pools(
    session: Session, *, key_id: int | None, org: str, now: datetime, settings: Settings
) -> dict[str, Any] | None:
    first, last = current_window(now)
    found = store.pools_now(
        session,
        org=org,
        key_id=key_id,
        first_bucket=first,
        last_bucket=last,
        since_bucket=bucket_start(to_ts(now - POOL_LIST_LOOKBACK)),
        columns=_SNAPSHOT_FIELDS,
    )
    if key_id is not None and not found.key_live:
        return None
    pools = {row["family"]: PoolSnapshot(**row) for row in found.pools}
    window = found.window
    # Every family in the counters came from the catalogue when its usage was ingested.
    families = found.recent
    families |= {
        f for f, p in pools.items() if p.configured_tokens_per_minute or p.learned_tokens_per_minute
    }
    families |= {family for family, _ in window}
    views = []
    if families:
        reference = load_reference(session, revision=found.revision)
        for family in sorted(families):
            by_model = {model: c for (fam, model), c in window.items() if fam == family}
            views.append(
                _pool_view(
                    reference,
                    org=org,
                    family=family,
                    pool=pools.get(family),
                    by_model=by_model,
                    now=now,
                    settings=settings,
                )
            )
    return {"org": org, "as_of": now, "pools": views}
