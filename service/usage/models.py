"""Tables of the usage feature (schema in migrations/versions/0002_usage.py).

Usage is stored as counters per (org, family, bucket, model), where a bucket is a 10-second slot
named by its start in Unix seconds. Writes are atomic upserts, so several replicas add into the
same rows; reads only touch the buckets of the window asked for, never the whole history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.types import UTCDateTime, utcnow

BUCKET_SECONDS = 10


class UsageBucket(SQLModel, table=True):
    __tablename__ = "usage_buckets"
    __table_args__ = (Index("ix_usage_buckets_org_bucket", "org", "bucket"),)

    # Primary key order (org, family, bucket, model) serves the per-pool range reads.
    org: str = Field(sa_column=Column(String(100), primary_key=True))
    family: str = Field(sa_column=Column(String(50), primary_key=True))
    bucket: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    model: str = Field(sa_column=Column(String(200), primary_key=True))
    tokens: int = Field(sa_column=Column(BigInteger, nullable=False))  # counted by the TPM rule
    requests: int = Field(sa_column=Column(BigInteger, nullable=False))
    prompt_tokens: int = Field(sa_column=Column(BigInteger, nullable=False))
    completion_tokens: int = Field(sa_column=Column(BigInteger, nullable=False))


class UsageRequestId(SQLModel, table=True):
    """Request ids already counted, so a retried report counts once (exactly, across replicas)."""

    __tablename__ = "usage_request_ids"

    org: str = Field(sa_column=Column(String(100), primary_key=True))
    request_id: str = Field(sa_column=Column(String(200), primary_key=True))
    # Unix seconds of the event; ids are pruned once their event is too old to be accepted again.
    event_ts: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))


class UsagePool(SQLModel, table=True):
    """Per (org, family): configured and learned limits, last header observation, alert state."""

    __tablename__ = "usage_pools"
    __table_args__ = (UniqueConstraint("org", "family", name="uq_usage_pools_org_family"),)

    id: int | None = Field(default=None, primary_key=True)
    org: str = Field(max_length=100)
    family: str = Field(max_length=50)
    configured_tokens_per_minute: int | None = Field(default=None, sa_column=Column(BigInteger))
    configured_requests_per_minute: int | None = Field(default=None, sa_column=Column(BigInteger))
    configured_by: str | None = Field(default=None, max_length=100)
    configured_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    learned_tokens_per_minute: int | None = Field(default=None, sa_column=Column(BigInteger))
    learned_requests_per_minute: int | None = Field(default=None, sa_column=Column(BigInteger))
    learned_from_model: str | None = Field(default=None, max_length=200)
    remaining_tokens: int | None = Field(default=None, sa_column=Column(BigInteger))
    remaining_requests: int | None = Field(default=None, sa_column=Column(BigInteger))
    tokens_reset_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    requests_reset_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    observed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    alert_state: str = Field(
        default="below", sa_column=Column(String(10), nullable=False, server_default="below")
    )
    alert_transitions: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    alert_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
