"""Domain events written in the same transaction as the state change that caused them (outbox).

Producers (the job watcher, the TPM tracker) call ``publish_event`` with their open session; it
also inserts one delivery row per matching subscription, and the alerts dispatcher sends the
committed rows. A rollback drops the event and its alerts with the change, so nothing is announced
that did not happen.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, select

from service.alerts.fanout import fan_out
from service.alerts.models import Event

__all__ = ["JOB_FINISHED", "TPM_THRESHOLD", "Event", "publish_event"]

log = logging.getLogger(__name__)

JOB_FINISHED = "job.finished"
TPM_THRESHOLD = "tpm.threshold"


def publish_event(
    session: Session, *, kind: str, subject: str, dedupe_key: str, payload: dict[str, Any]
) -> Event | None:
    """Record an event once per dedupe_key; returns None when it was already recorded."""
    existing = session.exec(select(Event).where(Event.dedupe_key == dedupe_key)).first()
    if existing is not None:
        return None
    event = Event(kind=kind, subject=subject, dedupe_key=dedupe_key, payload=payload)
    session.add(event)
    session.flush()
    log.info("event %s %s recorded", kind, subject)
    # Same session, same transaction: the alert rows commit or roll back with the state change.
    fan_out(session, event)
    return event
