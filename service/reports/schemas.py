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
