from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from pricing.prices import PRICE_FIELDS

DecimalStr = Annotated[
    str,
    Field(
        pattern=r"^\d{1,9}(\.\d{1,9})?$",
        examples=["8.00"],
        description="USD per 1M tokens as a decimal string",
    ),
]


class VersionSummary(BaseModel):
    version: str
    effective_date: date
    source: str
    notes: str
    published_by: str


class VersionList(BaseModel):
    versions: list[VersionSummary]


class PriceTable(BaseModel):
    version: str
    effective_date: date
    source: str
    notes: str
    as_of: date | None = None
    models: dict[str, dict[str, str]] = Field(
        description="model id -> price field -> USD per 1M tokens (decimal string)"
    )
    overrides: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="organisation contract prices in force"
    )


class PriceChangeOut(BaseModel):
    model: str
    field: str
    old: str | None
    new: str | None


class PriceDiff(BaseModel):
    from_version: str = Field(serialization_alias="from")
    to_version: str = Field(serialization_alias="to")
    changes: list[PriceChangeOut]


class PublishVersion(BaseModel):
    version: str = Field(min_length=1, max_length=64, examples=["2026-12-01"])
    effective_date: date
    source: str = Field(
        min_length=1, max_length=2000, description="where the prices come from (URL, contract id)"
    )
    notes: str = Field("", max_length=2000)
    models: dict[str, dict[str, DecimalStr]] = Field(
        min_length=1,
        description=f"dated snapshot id -> {{field: price}}; fields: {', '.join(PRICE_FIELDS)}",
    )


class OverrideIn(BaseModel):
    model: str = Field(min_length=1, max_length=100, examples=["gpt-4-0613"])
    field: str = Field(
        examples=["usd_per_1m_training_tokens"], description=f"one of {', '.join(PRICE_FIELDS)}"
    )
    usd_per_1m_tokens: DecimalStr
    note: str = Field("", max_length=500)
    effective_from: date | None = None
    effective_until: date | None = None


class OverrideOut(OverrideIn):
    updated_by: str
