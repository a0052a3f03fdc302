from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from service.types import IsoDate

MAX_TOKENS = 10**12
TokenCount = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
Epochs = int | Literal["auto"]
Method = Literal["supervised", "preference", "reinforcement"]
Tier = Literal["standard", "batch", "flex", "priority", "fast"]
TIER_DESCRIPTION = (
    "processing tier, priced on its own: standard, batch, flex or priority "
    '("fast" is accepted as priority, its name since 2026-07-30)'
)
# Hours of reinforcement training, an assumption of the user's: positive, at most a year.
Hours = Annotated[Decimal, Field(gt=0, le=8760, max_digits=10, decimal_places=4)]


class TrainingRequest(BaseModel):
    model: str = Field(min_length=1, max_length=200, examples=["gpt-3.5-turbo"])
    tokens: TokenCount | None = Field(None, description="billing tokens per epoch")
    token_lengths: list[Annotated[int, Field(ge=0, le=10**9)]] | None = Field(
        None,
        max_length=1_000_000,
        description="per-example token lengths (capped at the model's limit)",
    )
    n_examples: Annotated[int, Field(ge=1, le=10**9)] | None = Field(
        None, description="with `tokens`, for n_epochs=auto"
    )
    n_epochs: Epochs = Field("auto", description='1-50 or "auto"')
    as_of: IsoDate | None = Field(None, description="price date; default today (UTC)")
    method: Method = Field(
        "supervised",
        description="fine-tuning method: supervised (default), preference (DPO) or "
        "reinforcement (billed per hour of training, so it takes `training_hours`)",
    )
    training_hours: Hours | None = Field(
        None,
        description="reinforcement only: the hours of training you expect (your assumption; "
        "OpenAI bills the actual time)",
    )
    training_hours_max: Hours | None = Field(
        None, description="reinforcement only: the upper end of a range of hours"
    )

    @model_validator(mode="after")
    def _one_source(self) -> TrainingRequest:
        if self.method == "reinforcement":
            if self.tokens is not None or self.token_lengths is not None:
                raise ValueError(
                    "reinforcement fine-tuning is billed per hour of training: "
                    "give training_hours, not tokens or token_lengths"
                )
            if self.training_hours is None:
                raise ValueError("reinforcement fine-tuning needs training_hours")
            high = self.training_hours_max
            if high is not None and high < self.training_hours:
                raise ValueError("training_hours_max must not be below training_hours")
            return self
        if self.training_hours is not None or self.training_hours_max is not None:
            raise ValueError("training_hours is for method=reinforcement only")
        if (self.tokens is None) == (self.token_lengths is None):
            raise ValueError("give exactly one of tokens or token_lengths")
        if isinstance(self.n_epochs, int) and not 1 <= self.n_epochs <= 50:
            raise ValueError('n_epochs must be 1-50 or "auto"')
        return self


class FormatErrorOut(BaseModel):
    kind: str
    count: int
    lines: list[int]
    message: str


class TrainingEstimateOut(BaseModel):
    id: str
    model: str
    requested_model: str
    price_version: str
    as_of: date
    n_examples: int | None
    billing_tokens: int
    n_epochs: int
    epochs_auto: bool
    charged_tokens: int
    usd_per_1m_training_tokens: str
    price_source: str
    cost_usd: str = Field(description="decimal string, rounded once to 6 places (half-even)")
    warnings: list[str]
    method: str = Field("supervised", description="supervised, preference or reinforcement")
    free_training_tokens: int = Field(
        0, description="charged tokens a free-training promotion in force on as_of made free"
    )
    promotion: str | None = Field(None, description="the promotion applied, by name, if any")
    training_hours: str | None = Field(
        None, description="reinforcement: the assumed hours of training (decimal string)"
    )
    training_hours_max: str | None = Field(
        None, description="reinforcement: the upper end of the assumed range (decimal string)"
    )
    usd_per_training_hour: str | None = Field(None, description="reinforcement: the hourly price")
    cost_usd_max: str | None = Field(
        None, description="reinforcement: the cost at training_hours_max (decimal string)"
    )
    format_errors: list[FormatErrorOut] = Field(default_factory=list)
    dataset: dict[str, Any] | None = Field(
        None, description="token statistics when estimated from a file"
    )


class WorkloadIn(BaseModel):
    prompt_tokens: TokenCount
    completion_tokens: TokenCount
    requests_per_day: Annotated[int, Field(ge=0, le=10**10)]
    cached_prompt_tokens: TokenCount = Field(
        0, description="of prompt_tokens, how many are read from the prompt cache"
    )
    cache_write_tokens: TokenCount = Field(
        0,
        description="of prompt_tokens, how many are written to the prompt cache (billed at the "
        "cache-write price where the model has one, as input before that)",
    )

    @model_validator(mode="after")
    def _parts_of_the_prompt(self) -> WorkloadIn:
        if self.cached_prompt_tokens + self.cache_write_tokens > self.prompt_tokens:
            raise ValueError(
                "cached_prompt_tokens and cache_write_tokens are parts of prompt_tokens: "
                "together they cannot exceed it"
            )
        return self


class ScenarioIn(BaseModel):
    name: str | None = Field(None, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    prompt_tokens: TokenCount | None = Field(None, description="defaults to the workload's")
    completion_tokens: TokenCount | None = None
    tier: Tier | None = Field(None, description="defaults to the request's `tier`")
    cached_prompt_tokens: TokenCount | None = Field(
        None, description="defaults to the workload's (at most this scenario's prompt)"
    )
    cache_write_tokens: TokenCount | None = Field(
        None, description="defaults to the workload's (at most this scenario's prompt)"
    )


class InferenceRequest(BaseModel):
    model: str = Field(min_length=1, max_length=200, examples=["gpt-3.5-turbo"])
    workload: WorkloadIn
    scenarios: list[ScenarioIn] = Field(
        default_factory=list, max_length=20, description="alternatives priced on the same workload"
    )
    fine_tune_prompt_cut: Annotated[float, Field(ge=0, lt=1)] | None = Field(
        None,
        description="add a fine-tuned scenario of `model` with the prompt cut by this fraction "
        "(0.9 = 90%)",
    )
    training_tokens: TokenCount | None = Field(
        None, description="billing tokens per epoch, for break-even"
    )
    training_epochs: Epochs = "auto"
    training_examples: Annotated[int, Field(ge=1, le=10**9)] | None = None
    as_of: IsoDate | None = None
    tier: Tier = Field("standard", description=TIER_DESCRIPTION)


class ScenarioOut(BaseModel):
    name: str
    model: str
    requested_model: str
    fine_tuned: bool
    price_version: str
    as_of: date = Field(description="the day whose prices apply")
    prompt_tokens: int
    completion_tokens: int
    requests_per_day: int
    usd_per_1m_input_tokens: str
    usd_per_1m_output_tokens: str
    price_source: str
    cost_per_request_usd: str
    cost_per_day_usd: str
    cost_per_month_usd: str
    tier: str = Field(
        "standard", description="the processing tier priced (fast is reported as priority)"
    )
    long_context: bool = Field(
        False,
        description="the prompt is over the model's long-context threshold: the whole request "
        "is billed at the long-context prices",
    )
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0
    usd_per_1m_cached_input_tokens: str | None = Field(
        None, description="the cached-input price used; null when the model publishes none"
    )
    usd_per_1m_cache_write_tokens: str | None = Field(
        None,
        description="the cache-write price used; null before the model had one (cache writes "
        "then bill as input)",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="lifecycle (shut down, or deprecated with days left and the replacement) "
        "and the long-context step",
    )


class BreakEvenOut(BaseModel):
    against: str
    saving_per_request_usd: str
    never: bool
    requests: int | None
    days: str | None


class InferenceEstimateOut(BaseModel):
    id: str
    price_version: str
    as_of: date
    cost_per_request_usd: str
    cost_per_day_usd: str
    cost_per_month_usd: str
    tier: str = Field("standard", description="the first scenario's processing tier")
    warnings: list[str] = Field(
        default_factory=list,
        description="every scenario's warnings, then the training estimate's, without repeats",
    )
    scenarios: list[ScenarioOut]
    training: dict[str, Any] | None
    break_even: list[BreakEvenOut]


class EstimateSummary(BaseModel):
    id: str
    kind: str
    requested_by: str
    created_at: datetime
    model: str
    as_of: date
    price_version: str
    cost_usd: str
    inputs: dict[str, Any]
    result: dict[str, Any]


class EstimatePage(BaseModel):
    items: list[EstimateSummary]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")
