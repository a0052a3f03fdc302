from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from pricing.catalogue import MODEL_ID
from pricing.prices import PRICE_FIELDS
from pricing.tokens import ENCODING_NAMES
from service.types import IsoDate

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


class CatalogueEntryIn(BaseModel):
    """A model OpenAI released after this build of ratecard, published with its first prices."""

    id: str = Field(
        pattern=MODEL_ID.pattern,
        examples=["gpt-4.1-mini-2026-10-01"],
        description="dated snapshot id, as OpenAI names it",
    )
    family: str = Field(
        pattern=MODEL_ID.pattern,
        examples=["gpt-4.1-mini"],
        description="the rate-limit pool it shares (with every ft: model built on it)",
    )
    api: Literal["chat", "completions"] = "chat"
    context_window: int = Field(gt=0, le=100_000_000)
    training_example_limit: int | None = Field(
        None, gt=0, description="tokens per training example; omit if it cannot be fine-tuned"
    )
    encoding: str = Field(
        description="tokenizer (shipped offline)",
        json_schema_extra={"enum": list(ENCODING_NAMES)},
    )
    released: IsoDate
    notes: str = Field("", max_length=500)
    long_context_threshold: int | None = Field(
        None,
        gt=0,
        description="a prompt over this many tokens bills the whole request at the "
        "long-context prices",
    )
    fine_tuning_methods: list[Literal["supervised", "preference", "reinforcement"]] | None = Field(
        None,
        description="methods OpenAI offers for it; omitted, a training_example_limit means "
        "supervised",
    )


class ShutdownNoticeIn(BaseModel):
    """OpenAI's notice that models stop answering on a date (their fine-tunes with them)."""

    models: list[str] = Field(min_length=1, max_length=100, examples=[["gpt-4o-2024-08-06"]])
    announced: date
    shutdown: date
    fine_tunes_shutdown: date | None = Field(
        None, description="when their fine-tunes stop, if not on the same day"
    )
    replacement: str | None = Field(None, max_length=100, examples=["gpt-6-luna"])
    source: str = Field(min_length=1, max_length=2000)
    notes: str = Field("", max_length=500)


class FineTuningWindowIn(BaseModel):
    model: str = Field(max_length=100, examples=["gpt-4.1-2025-04-14"])
    method: Literal["supervised", "preference", "reinforcement"]
    opened: date | None = None
    closed: date | None = Field(None, description="the first day OpenAI refused new jobs")
    source: str = Field(min_length=1, max_length=2000)


class PlatformEventIn(BaseModel):
    date: dt.date
    kind: str = Field(max_length=100, examples=["fine_tuning_closed"])
    text: str = Field(max_length=500)
    source: str = Field(min_length=1, max_length=2000)
    announced: dt.date


class LifecycleIn(BaseModel):
    """Lifecycle events published with a version; immutable, read as of their dates."""

    shutdown: list[ShutdownNoticeIn] = Field(default_factory=list, max_length=100)
    fine_tuning: list[FineTuningWindowIn] = Field(default_factory=list, max_length=100)
    platform: list[PlatformEventIn] = Field(default_factory=list, max_length=20)


class PublishVersion(BaseModel):
    version: str = Field(min_length=1, max_length=64, examples=["2026-12-01"])
    effective_date: IsoDate
    source: str = Field(
        min_length=1, max_length=2000, description="where the prices come from (URL, contract id)"
    )
    notes: str = Field("", max_length=2000)
    models: dict[str, dict[str, DecimalStr | None] | None] = Field(
        min_length=1,
        description=(
            "only what changes: dated snapshot id -> {field: price}; a price of null withdraws "
            "that price, a model of null withdraws the model; every price not listed carries "
            f"over from the latest version. Fields: {', '.join(PRICE_FIELDS)}"
        ),
    )
    new_models: list[CatalogueEntryIn] = Field(
        default_factory=list,
        max_length=100,
        description="catalogue entries for models released since; each needs prices in `models`",
    )
    aliases: dict[str, str] = Field(
        default_factory=dict,
        examples=[{"gpt-4.1-mini": "gpt-4.1-mini-2026-10-01"}],
        description="undated name -> dated snapshot id it points at from effective_date on",
    )
    lifecycle: LifecycleIn | None = Field(
        None,
        description="shutdown notices, fine-tuning windows and platform events to publish",
    )


class OverrideIn(BaseModel):
    model: str = Field(min_length=1, max_length=100, examples=["gpt-4-0613"])
    field: str = Field(
        examples=["usd_per_1m_training_tokens"], description=f"one of {', '.join(PRICE_FIELDS)}"
    )
    usd_per_1m_tokens: DecimalStr
    note: str = Field("", max_length=500)
    effective_from: IsoDate | None = None
    effective_until: IsoDate | None = None


class OverrideOut(OverrideIn):
    updated_by: str
