"""Shapes of the planning API. Money is a decimal string in USD (pricing.money.format_usd)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Tier = Literal["standard", "batch", "flex"]
# A scenario model name meaning "OpenAI's recommended replacement for this model's base".
RECOMMENDED = "recommended"
Usd = Annotated[str, Field(examples=["12.50"], description="USD, decimal string")]


class Countdown(BaseModel):
    state: str = Field(description="available | deprecated | shut_down | not_released")
    shutdown_date: date | None = Field(description="the day the base (and its fine-tunes) stop")
    days_left: int | None
    replacement: str | None = Field(description="OpenAI's recommended replacement")
    fine_tuning_last_day: date | None = Field(
        None, description="the last day a new job on this base is accepted (None: not accepted)"
    )


class TrafficOut(BaseModel):
    source: str = Field(
        description="reported, imported or both: the usage history (clients' reports and the "
        "Usage API's buckets, combined, never added); given: a volume; none: no traffic"
    )
    days: int = Field(description="the window averaged over")
    requests: int
    requests_per_day: str
    avg_prompt_tokens: str
    avg_completion_tokens: str
    peak_tokens_per_minute: int
    last_seen: datetime | None = None


class FineTunedModelOut(BaseModel):
    model: str
    base: str
    family: str
    method: str
    job_id: str | None
    trained_tokens: int | None
    training_cost_usd: Usd | None
    training_cost_basis: str | None = Field(description="actual | estimated | computed")
    sources: list[str] = Field(description="ratecard_jobs, openai, usage")
    countdown: Countdown
    traffic: TrafficOut | None


class InventoryOut(BaseModel):
    as_of: datetime
    org: str
    openai: str = Field(description="read | not_configured | skipped | unavailable: …")
    fine_tuning_closes: date | None = Field(description="no new fine-tuning job from this day")
    models: list[FineTunedModelOut]
    unresolved: list[str] = Field(description="ft: names seen whose base ratecard cannot price")


class ScenarioIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1,
        max_length=200,
        examples=["gpt-5-mini", RECOMMENDED],
        description="a replacement, or `recommended` for OpenAI's recommendation",
    )
    added_prompt_tokens: int | None = Field(None, ge=0, le=10_000_000)
    prompt_cut_pct: Decimal | None = Field(
        None, ge=0, lt=100, description="the prompt was cut by this percentage (90 = 90%)"
    )
    completion_tokens: int | None = Field(None, ge=0, le=10_000_000)
    tier: Tier = "standard"


class VolumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests_per_day: Decimal = Field(ge=0, le=10**12)
    prompt_tokens: Decimal = Field(ge=0, le=10_000_000)
    completion_tokens: Decimal = Field(ge=0, le=10_000_000)
    peak_tokens_per_minute: int = Field(0, ge=0)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenarios: list[ScenarioIn] = Field(default_factory=list, max_length=20)
    include_recommended: bool = Field(
        True, description="add OpenAI's recommended replacement with the first scenario's settings"
    )
    volume: VolumeIn | None = Field(None, description="instead of the observed traffic")
    last_fine_tune_tokens: int | None = Field(
        None, ge=1, description="trained tokens of a new file (default: the original job's)"
    )
    days: int = Field(7, ge=1, le=31, description="traffic window in days")


class CostOut(BaseModel):
    price_version: str
    tier: str
    prompt_tokens: int
    completion_tokens: int
    requests_per_day: int
    cost_per_request_usd: Usd
    cost_per_day_usd: Usd
    cost_per_month_usd: Usd


class PoolFitOut(BaseModel):
    family: str
    tokens_per_minute_limit: int | None
    limit_source: str | None
    existing_peak_tokens_per_minute: int
    migrated_peak_tokens_per_minute: int
    peak_tokens_per_minute: int
    headroom_tokens_per_minute: int | None
    fits: bool | None


class ScenarioOut(BaseModel):
    name: str
    model: str
    recommended: bool
    added_prompt_tokens: int
    cost: CostOut
    change_per_month_usd: Usd
    change_percent: str | None
    pool: PoolFitOut
    warnings: list[str]


class LastFineTuneOut(BaseModel):
    possible: bool
    reason: str
    base: str
    last_day_to_launch: date | None = None
    trained_tokens: int | None = None
    training_cost_usd: Usd | None = None
    serves_days: int | None = None
    shutdown_date: date | None = None
    against: str | None = None
    saving_per_day_usd: Usd | None = None
    net_saving_usd: Usd | None = None
    pays_for_itself: bool | None = None


class PlanOut(BaseModel):
    as_of: datetime
    model: FineTunedModelOut
    today: CostOut
    scenarios: list[ScenarioOut]
    last_fine_tune: LastFineTuneOut | None
