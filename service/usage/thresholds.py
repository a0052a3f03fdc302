"""Threshold alerts on a pool's utilisation.

After each write the pool's utilisation (the higher of tokens and requests against their limits)
is compared with the threshold: crossing above publishes a ``tpm.threshold`` event with state
"above"; the pool re-arms (and publishes state "below") only after utilisation falls under
threshold minus the re-arm margin. One event per crossing, written in the same transaction as the
usage that caused it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from service.alerts.events import TPM_THRESHOLD, publish_event
from service.settings import Settings
from service.usage import store
from service.usage.capacity import (
    effective_limit,
    fmt_pct,
    locked_pool_row,
    pool_row,
    utilisation,
)
from service.usage.store import Counts
from service.usage.windows import current_window

log = logging.getLogger(__name__)


def _current(session: Session, *, org: str, family: str, now: datetime) -> Counts:
    first, last = current_window(now)
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
    pool = pool_row(session, org=org, family=family)
    limit = effective_limit(pool, family=family, settings=settings)
    util = utilisation(_current(session, org=org, family=family, now=now), limit)
    if _wants_transition(pool.alert_state if pool else "below", util.highest, settings) is None:
        return  # the common case: no lock taken
    # Re-check under the pool's row lock so two replicas cannot both announce one crossing.
    pool = locked_pool_row(session, org=org, family=family, now=now)
    limit = effective_limit(pool, family=family, settings=settings)
    current = _current(session, org=org, family=family, now=now)
    util = utilisation(current, limit)
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
            "utilisation_pct": fmt_pct(util.highest),
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
        fmt_pct(util.highest),
    )
