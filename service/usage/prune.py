"""Retention: forget what can no longer matter."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from service.settings import Settings
from service.usage import store
from service.usage.windows import MAX_AGE, to_ts
from service.usage_import import store as imported_store

log = logging.getLogger(__name__)


def prune(session: Session, *, now: datetime, settings: Settings) -> tuple[int, int]:
    """Forget request ids whose events can no longer be accepted, and buckets (reported and
    imported) past retention."""
    # An event older than MAX_AGE is rejected anyway, so its id cannot be counted twice after this.
    ids = store.prune_request_ids(session, before_ts=to_ts(now - MAX_AGE - timedelta(hours=1)))
    horizon = to_ts(now - timedelta(days=settings.usage_retention_days))
    buckets = store.prune_buckets(session, before_ts=horizon)
    buckets += imported_store.prune(session, before_ts=horizon)
    if ids or buckets:
        log.info("usage retention: pruned %d request id(s) and %d bucket(s)", ids, buckets)
    return ids, buckets
