from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.types import Money, UTCDateTime, utcnow


class PublishedPriceVersion(SQLModel, table=True):
    """A version published through the API after the shipped history; immutable once written."""

    __tablename__ = "price_versions"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=64, unique=True)
    effective_date: date
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    published_by: str = Field(max_length=100)
    published_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class PriceOverrideRow(SQLModel, table=True):
    """An organisation's contract price for one model field, layered over the public tables."""

    __tablename__ = "price_overrides"
    __table_args__ = (UniqueConstraint("model", "field", name="uq_price_overrides_model_field"),)

    id: int | None = Field(default=None, primary_key=True)
    model: str = Field(max_length=100, index=True)
    field: str = Field(max_length=64)
    usd_per_1m_tokens: Decimal = Field(sa_column=Column(Money(), nullable=False))
    note: str = Field(default="", max_length=500)
    effective_from: date | None = None
    effective_until: date | None = None
    updated_by: str = Field(max_length=100)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ReferenceRevision(SQLModel, table=True):
    """One row whose number changes with every publish or override change: the cache key."""

    __tablename__ = "reference_revision"

    id: int = Field(default=1, primary_key=True)
    revision: int = Field(sa_column=Column(BigInteger, nullable=False))
