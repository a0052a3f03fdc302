"""Domain events written in the same transaction as the state change that caused them (outbox).

Producers (the job watcher, the TPM tracker) call ``publish_event`` with their open session; it
also inserts one delivery row per matching subscription, and the alerts dispatcher sends the
committed rows. A rollback drops the event and its alerts with the change, so nothing is announced
that did not happen.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from service.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

JOB_FINISHED = "job.finished"
TPM_THRESHOLD = "tpm.threshold"


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_events_dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50, index=True)
    subject: str = Field(max_length=200, index=True)  # job id or TPM pool "org/family"
    dedupe_key: str = Field(
        max_length=300
    )  # one event per transition, e.g. "job.finished:ftjob-1:succeeded"
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


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
    # Imported here: the fan-out module imports this one (Event) for its queries.
    from service.alerts.fanout import fan_out

    # Same session, same transaction: the alert rows commit or roll back with the state change.
    fan_out(session, event)
    return event
