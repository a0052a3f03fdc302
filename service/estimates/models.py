from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from service.types import Money, UTCDateTime, utcnow


class EstimateRecord(SQLModel, table=True):
    """Every estimate the service gave: who asked, when, with which inputs and price version."""

    __tablename__ = "estimates"
    # The CSV export reads this index alone, in its order: no row lookups, no sort.
    __table_args__ = (Index("ix_estimates_export", "created_at", "id", "csv_line"),)

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=20, index=True)  # "training" | "inference"
    requested_by: str = Field(max_length=100, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    model: str = Field(max_length=200, index=True)
    as_of: date
    price_version: str = Field(max_length=64)
    cost_usd: Decimal = Field(sa_column=Column(Money(), nullable=False))
    inputs: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # What the read endpoints send for it, rendered once when it is stored
    # (service.estimates.renderings): its summary's JSON and its CSV export line.
    summary: str = Field(sa_column=Column(Text, nullable=False))
    csv_line: str = Field(sa_column=Column(Text, nullable=False))
