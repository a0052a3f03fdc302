from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SpendRow(BaseModel):
    group: str = Field(description="the month (YYYY-MM), team, model or job id")
    jobs: int
    jobs_actual: int = Field(description="jobs counted at their actual cost")
    jobs_estimated: int = Field(
        description="jobs counted at their launch estimate (not finished, or no "
        "trained_tokens reported)"
    )
    jobs_unpriced: int = Field(
        description="watched jobs with neither an estimate nor an actual cost yet"
    )
    actual_usd: str
    estimated_usd: str
    total_usd: str
    basis: Literal["actual", "estimated", "mixed", "unpriced"] = Field(
        description="what the total rests on: actual costs only, estimates only, or both"
    )
    billed_usd: str | None = Field(
        None,
        description="what OpenAI billed for training (its Costs API, by the day billed), where "
        "imported and attributable: by month, by model, per job when it can be told apart",
    )
    team: str | None = None
    model: str | None = None
    status: str | None = None
    openai_job_id: str | None = None
    created_at: str | None = None


class SpendReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: Literal["month", "team", "model", "job"]
    currency: Literal["USD"]
    rows: list[SpendRow]
    totals: SpendRow


SpendKind = Literal["training", "inference"]


class KindSpendRow(BaseModel):
    """One group's spend of one kind: estimated, actual and billed side by side."""

    group: str = Field(
        description="the month (YYYY-MM), team, model or kind. Inference usage carries no team: "
        "it is grouped under `(no team)`. Fine-tuned inference is grouped as `ft-<base model>`, "
        "the unit OpenAI bills it in"
    )
    kind: SpendKind
    estimated_usd: str | None = Field(
        description="training: the launch estimates of jobs without an actual cost yet (as in "
        "the training-spend report); null: not estimated (inference has no estimate)"
    )
    actual_usd: str | None = Field(
        description="training: the actual cost of jobs OpenAI reported trained tokens for; "
        "inference: reported and imported usage (counted once) at the price in force each day. "
        "null: unknown, some of the usage has no price (see `unpriced`), never a zero"
    )
    billed_usd: str | None = Field(
        description="OpenAI's Costs API line items of this kind (USD), where imported and "
        "attributable; null: none imported for the group, or not attributable (training by team)"
    )
    unpriced: list[str] = Field(
        default_factory=list,
        description="the model names ratecard saw traffic for but has no price for",
    )
    jobs: int | None = Field(None, description="training only: jobs created in the range")
    jobs_actual: int | None = None
    jobs_estimated: int | None = None
    jobs_unpriced: int | None = None
    basis: Literal["actual", "estimated", "mixed", "unpriced"] | None = Field(
        None, description="training only: what the job figures rest on (as in training-spend)"
    )


class KindSpendTotals(BaseModel):
    estimated_usd: str | None
    actual_usd: str | None = Field(description="null: unknown, some row's actual is unknown")
    billed_usd: str | None = Field(
        description="every imported line item of the kinds shown, attributable to a row or not"
    )


class KindSpendReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: Literal["month", "team", "model", "kind"]
    kind: SpendKind | None = Field(description="the kind shown; null: both")
    currency: Literal["USD"]
    rows: list[KindSpendRow]
    totals: KindSpendTotals
