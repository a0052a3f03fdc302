"""Events (the outbox), subscriptions (who wants to hear about what) and deliveries (rows to send).

The tables live together so the modules that write and match them (events, fanout) import this
one and never each other.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.types import UTCDateTime, utcnow

# Destination types
SLACK = "slack"
WEBHOOK = "webhook"

# What a subscription follows
FOLLOW_JOB = "job"
FOLLOW_TEAM = "team"
FOLLOW_ALL_JOBS = "all_jobs"
FOLLOW_TPM = "tpm"
FOLLOW_FINE_TUNING = "fine_tuning"  # the countdown of the end of fine-tuning
FOLLOW_BILLING = "billing"  # the reconciliation summary, once per chosen period

# Delivery statuses
PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
DISABLED = "disabled"
DELIVERY_STATUSES = (PENDING, SENDING, DELIVERED, FAILED, DISABLED)


def sortable_suffix() -> str:
    """24 hex digits: epoch milliseconds, then randomness, so ids sort by creation time."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


def new_subscription_id() -> str:
    return "sub_" + sortable_suffix()


class Subscription(SQLModel, table=True):
    __tablename__ = "alert_subscriptions"

    id: str = Field(default_factory=new_subscription_id, primary_key=True, max_length=40)
    destination_type: str = Field(max_length=20)
    slack_channel: str | None = Field(default=None, max_length=40, index=True)
    webhook_url: str | None = Field(default=None, max_length=2000)
    # The signing key must be usable to sign, so it is stored as given; it is only ever shown once.
    webhook_secret: str | None = Field(default=None, max_length=200)
    follows_type: str = Field(max_length=20, index=True)
    follows_job_id: str | None = Field(default=None, max_length=100, index=True)
    follows_team: str | None = Field(default=None, max_length=100, index=True)
    follows_family: str | None = Field(default=None, max_length=100, index=True)
    threshold_pct: int | None = Field(default=None)
    follows_period: str | None = Field(default=None, max_length=10)  # billing: daily|weekly|monthly
    created_by: str | None = Field(default=None, max_length=100, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    disabled_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    disabled_reason: str | None = Field(default=None, max_length=500)
    deleted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )

    @property
    def destination_label(self) -> str:
        return (self.slack_channel if self.destination_type == SLACK else self.webhook_url) or ""


class Event(SQLModel, table=True):
    """Something that happened, recorded once per transition (service.alerts.events writes it)."""

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


class Delivery(SQLModel, table=True):
    """One alert for one event to one subscription; unique per (event, subscription)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "event_id", "subscription_id", name="uq_alert_deliveries_event_subscription"
        ),
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    # Receivers deduplicate on this; it never changes across retries of the same alert.
    webhook_id: str = Field(max_length=40, unique=True)
    event_id: int = Field(foreign_key="events.id", index=True)
    subscription_id: str = Field(foreign_key="alert_subscriptions.id", max_length=40, index=True)
    event_kind: str = Field(max_length=50, index=True)
    subject: str = Field(max_length=200, index=True)
    destination_type: str = Field(max_length=20)
    destination: str = Field(
        max_length=2000
    )  # channel id or URL, as it was when the event happened
    status: str = Field(default=PENDING, max_length=20)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # Start of the retry window (creation, or an admin's retry); past the window an alert fails.
    retrying_since: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    claim_token: str | None = Field(default=None, max_length=40)
    lease_expires_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    last_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


def new_delivery_ids() -> tuple[str, str]:
    """(delivery id, webhook id): the webhook id derives from the delivery id, so it is stable."""
    suffix = sortable_suffix()
    return "dlv_" + suffix, "msg_" + suffix
