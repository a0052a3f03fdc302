"""Will a workload fit in its pool beside the rest of the pool's traffic (reported and imported)?"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from service.errors import InvalidInput
from service.prices.service import catalogue_for
from service.settings import Settings
from service.usage import store
from service.usage.capacity import (
    Utilisation,
    effective_limit,
    fmt_pct,
    limit_out,
    pct,
    pool_row,
    tier_name,
)
from service.usage.names import model_key
from service.usage.schemas import PlanIn
from service.usage.windows import current_window, nearest_rank, to_ts
from service.usage_import.combine import MinuteFigure, combined_minutes


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
    current_minute = to_ts(now) - to_ts(now) % 60
    # Reported and imported usage combined; `exact` leaves out evenly spread hour/day shares,
    # which would invent peak minutes (service.usage_import.combine).
    totals = combined_minutes(
        session,
        org=org,
        family=family,
        start_ts=current_minute - lookback_minutes * 60,
        end_ts=current_minute,
        exclude_model=exclude,
    )
    empty = MinuteFigure()
    series = [
        totals.get(m, empty).exact
        for m in range(current_minute - lookback_minutes * 60, current_minute, 60)
    ]
    first, last = current_window(now)
    window = store.window_by_model(
        session, org=org, family=family, first_bucket=first, last_bucket=last
    )
    series.append(store.sum_counts(c for (_, model), c in window.items() if model != exclude))
    tokens = [c.tokens for c in series]
    requests = [c.requests for c in series]
    if basis == "peak":
        return max(tokens), max(requests)
    return nearest_rank(tokens, 95), nearest_rank(requests, 95)


def plan(
    session: Session, *, org: str, request: PlanIn, now: datetime, settings: Settings
) -> dict[str, Any]:
    """Will requests_per_minute requests of tokens_per_request fit beside the rest of the pool?"""
    resolved = catalogue_for(session).resolve(request.model, as_of=now.date())
    family = resolved.family
    key = model_key(resolved)
    pool = pool_row(session, org=org, family=family)
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
        pct(other_t + need_t, limit.tokens_per_minute),
        None if not limit.requests_per_minute else pct(other_r + need_r, limit.requests_per_minute),
    )
    after_pct = after.highest or Decimal(0)
    figure = "peak" if request.basis == "peak" else "95th-percentile minute"
    if fits:
        summary = (
            f"Fits: {need_t:,} TPM and {need_r:,} RPM beside the rest of the {family} pool "
            f"({other_t:,} TPM at its {figure} over the last {request.lookback_minutes} min) "
            f"brings it to {fmt_pct(after_pct)}% of the limit."
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
        "limit": limit_out(pool, org=org, family=family, settings=settings),
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
        "utilisation_after_pct": fmt_pct(after_pct),
        "alert_threshold_pct": settings.tpm_alert_threshold_pct,
        "above_alert_threshold": after_pct >= settings.tpm_alert_threshold_pct,
        "summary": summary,
    }
