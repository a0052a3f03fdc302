from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from service.types import IsoDate

MAX_TOKENS = 10**12
TokenCount = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
Epochs = int | Literal["auto"]


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

    @model_validator(mode="after")
    def _one_source(self) -> TrainingRequest:
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
    format_errors: list[FormatErrorOut] = Field(default_factory=list)
    dataset: dict[str, Any] | None = Field(
        None, description="token statistics when estimated from a file"
    )


class WorkloadIn(BaseModel):
    prompt_tokens: TokenCount
    completion_tokens: TokenCount
    requests_per_day: Annotated[int, Field(ge=0, le=10**10)]


class ScenarioIn(BaseModel):
    name: str | None = Field(None, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    prompt_tokens: TokenCount | None = Field(None, description="defaults to the workload's")
    completion_tokens: TokenCount | None = None


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
