"""Tables of the billing feature (schema in migrations/versions/0019_billing_costs.py).

A cost line is one (day, project, line item, currency) of OpenAI's Costs API, as OpenAI sent
it. Amounts are kept as exact decimal text (not micro-units: OpenAI sends more than 6 places,
and a sum of rounded lines would drift from its own total). An import replaces every line of
the days it fetched in one transaction, so a day read twice is counted once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from service.types import UTCDateTime, utcnow

NO_PROJECT = ""  # OpenAI sends null for costs outside any project; a key column cannot be null


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored as its exact text: no rounding, no float, identical on both databases."""

    impl = String(60)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else f"{Decimal(value):f}"

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class CostLine(SQLModel, table=True):
    __tablename__ = "billing_cost_lines"
    __table_args__ = (
        UniqueConstraint(
            "day", "project_id", "line_item", "currency", name="uq_billing_cost_lines_key"
        ),
        Index("ix_billing_cost_lines_model_day", "model", "day"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    day: date = Field(sa_column=Column(Date, nullable=False, index=True))
    project_id: str = Field(sa_column=Column(String(200), nullable=False))
    line_item: str = Field(sa_column=Column(String(300), nullable=False))
    currency: str = Field(sa_column=Column(String(10), nullable=False))
    amount: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    quantity: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    quantity_unit: str | None = Field(default=None, max_length=50)
    # The mapping of line_item (service.billing.lineitems), kept so reports can group in SQL.
    model: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=20)
    component: str | None = Field(default=None, max_length=30)
    fine_tuned: bool = False
    import_id: int = Field(sa_column=Column(Integer, nullable=False))
    imported_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class CostImport(SQLModel, table=True):
    """One run of the importer: what it was asked for, what it found, how it ended."""

    __tablename__ = "billing_imports"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    trigger: str = Field(max_length=20)  # "schedule" or "manual"
    requested_by: str | None = Field(default=None, max_length=100)
    status: str = Field(max_length=20)  # running, succeeded, failed
    start_day: date = Field(sa_column=Column(Date, nullable=False))
    end_day: date = Field(sa_column=Column(Date, nullable=False))  # exclusive
    days: int = 0
    lines: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
