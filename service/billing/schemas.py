from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.types import IsoDate

GroupBy = Literal["day", "month", "project", "model", "line_item"]
Cause = Literal[
    "unmapped_line_item",
    "model_without_price",
    "traffic_not_seen",
    "traffic_not_billed",
    "price_version_disagrees",
    "missing_discount",
    "price_disagrees",
]


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: IsoDate | None = Field(None, description="first day (UTC); default: the window")
    end: IsoDate | None = Field(None, description="day after the last one (UTC, exclusive)")


class ImportOut(BaseModel):
    id: int
    trigger: str
    requested_by: str | None
    status: Literal["running", "succeeded", "failed"]
    start: date
    end: date
    days: int
    lines: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class ImportPage(BaseModel):
    items: list[ImportOut]


class ReconciliationRow(BaseModel):
    group: dict[str, str] = Field(description="the row's day|month, project, model, line_item")
    currency: str
    billed_usd: str = Field(description="what OpenAI billed (its Costs API), exact")
    computed_usd: str | None = Field(
        description="what ratecard computes from usage and jobs; null where a price is missing"
    )
    difference_usd: str | None = Field(description="billed minus computed")
    difference_pct: str | None = Field(description="difference as a percentage of billed")
    billed_quantity: str | None = None
    computed_quantity: str | None = None
    flagged: bool
    causes: list[Cause] = Field(description="the likely causes, where ratecard can tell")
    notes: list[str] = Field(default_factory=list)


class UnmappedLineItem(BaseModel):
    line_item: str
    reason: str
    billed_usd: str


class ReconciliationReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: list[GroupBy]
    threshold_pct: str
    rows: list[ReconciliationRow]
    totals: ReconciliationRow
    unmapped: list[UnmappedLineItem]
