"""Request and response bodies of the jobs and budgets API (the contract the bot codes against)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

TEAM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"
FILE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
Auto = Literal["auto"]


class HyperparametersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: Annotated[StrictInt, Field(ge=1, le=50)] | Auto = "auto"
    batch_size: Annotated[StrictInt, Field(ge=1, le=256)] | Auto = "auto"
    learning_rate_multiplier: Annotated[StrictFloat | StrictInt, Field(gt=0, le=100)] | Auto = (
        "auto"
    )


class JobIn(BaseModel):
    """A launch request; ``POST /v1/jobs/preview`` takes the same body."""

    model_config = ConfigDict(extra="forbid")

    training_file: str = Field(pattern=FILE_ID_PATTERN, examples=["file-abc123"])
    model: str = Field(min_length=1, max_length=200, examples=["gpt-4o-mini"])
    hyperparameters: HyperparametersIn = Field(default_factory=HyperparametersIn)
    suffix: str | None = Field(None, min_length=1, max_length=64)
    validation_file: str | None = Field(None, pattern=FILE_ID_PATTERN)
    seed: Annotated[StrictInt, Field(ge=0, le=2_147_483_647)] | None = None
    team: str = Field(pattern=TEAM_PATTERN, examples=["ml-platform"])
    launched_by: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        examples=["slack:U123"],
        description="who asked (a label); defaults to the API key's name",
    )
    force: bool = Field(False, description="launch even over budget; needs an admin key")
    method: Literal["supervised", "preference", "reinforcement"] = Field(
        "supervised",
        description="fine-tuning method; sent to OpenAI as method.type supervised, dpo or "
        "reinforcement",
    )
    grader: dict[str, Any] | None = Field(
        None,
        description="reinforcement only (and required there): OpenAI's "
        "method.reinforcement.grader object, sent as given",
    )
    training_hours: Annotated[Decimal, Field(gt=0, le=10_000)] | None = Field(
        None,
        description="reinforcement only (and required there): the hours of training you "
        "assume; OpenAI bills reinforcement fine-tuning per hour, so the estimate and the "
        "budget check use this figure",
    )

    def fingerprint(self) -> str:
        """The request as the launch's idempotency fingerprint sees it (JSON).

        Fields added later are left out at their defaults, so a key replayed after an upgrade
        still matches the launch it made before.
        """
        defaults = {"method": "supervised", "grader": None, "training_hours": None}
        unset = {name for name, value in defaults.items() if getattr(self, name) == value}
        return self.model_dump_json(exclude=unset)


class WatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    openai_job_id: str = Field(pattern=r"^ftjob-[A-Za-z0-9_-]{1,100}$", examples=["ftjob-abc123"])
    team: str | None = Field(None, pattern=TEAM_PATTERN)
    launched_by: str | None = Field(None, min_length=1, max_length=200)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=500,
        description="why the job is closed; kept in its error and timeline",
        examples=["launched against the old organisation; nothing to bill"],
    )


class JobErrorOut(BaseModel):
    code: str | None
    message: str | None
    param: str | None


class JobEventOut(BaseModel):
    created_at: datetime
    level: str
    message: str


class JobOut(BaseModel):
    id: str = Field(description="ratecard id, job_...")
    openai_job_id: str | None
    status: str = Field(
        description="launching | launch_failed | launch_unknown | validating_files | queued | "
        "running | succeeded | failed | cancelled (or a newer OpenAI status, recorded "
        "as sent and never treated as finished)"
    )
    source: Literal["launch", "watch"]
    model: str
    requested_model: str
    team: str | None
    launched_by: str | None
    training_file: str | None
    validation_file: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    fine_tuned_model: str | None
    trained_tokens: int | None
    estimate: dict[str, Any] | None = Field(
        description="training estimate made at launch (pricing fields and dataset statistics)"
    )
    estimated_cost_usd: str | None
    actual_cost_usd: str | None = Field(
        description="trained_tokens x training price in force on the job's "
        "created date; 0 for a job that never trained"
    )
    actual_price_version: str | None
    cost_difference_usd: str | None = Field(
        description="actual minus estimate; negative when cheaper"
    )
    billed_usd: str | None = Field(
        None,
        description="what OpenAI billed for the training (Costs API), where imported and "
        "attributable to this job",
    )
    error: JobErrorOut | None
    created_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    events: list[JobEventOut] = Field(description="the latest events, oldest first")


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class BudgetCheckOut(BaseModel):
    team: str
    month: str
    monthly_budget_usd: str | None
    spent_usd: str
    remaining_usd: str | None
    would_exceed: bool


class FineTuningOut(BaseModel):
    """Whether OpenAI accepts the job, as of the day of the request (UTC)."""

    method: str
    last_day: date | None = Field(description="the last day new jobs of this kind are accepted")
    days_left: int | None = Field(description="days from today until new jobs stop")
    replacement: str | None = Field(description="OpenAI's recommended replacement model")
    warnings: list[str]


class PreviewOut(BaseModel):
    estimate: dict[str, Any]
    budget: BudgetCheckOut
    fine_tuning: FineTuningOut


def _money(value: object) -> Decimal:
    # Floats are already inexact by the time they arrive; money travels as decimal strings.
    if isinstance(value, bool | float):
        raise ValueError('send money as a decimal string, e.g. "500.00"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    if amount < 0:
        raise ValueError("amount must not be negative")
    if amount > Decimal("1e12"):
        raise ValueError("amount is implausibly large")
    return amount


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_usd: Decimal = Field(
        examples=["500.00"], description="decimal string, USD per calendar month (UTC)"
    )

    @field_validator("monthly_usd", mode="before")
    @classmethod
    def _decimal(cls, value: object) -> Decimal:
        return _money(value)


class BudgetOut(BaseModel):
    team: str
    month: str = Field(description="calendar month (UTC) the spend figures cover, YYYY-MM")
    monthly_usd: str | None = Field(description="null when the team has no budget")
    spent_usd: str = Field(
        description="actual cost where known, else the launch estimate, of the month's jobs"
    )
    remaining_usd: str | None
    jobs: int
    updated_by: str | None
    updated_at: datetime | None


class BudgetList(BaseModel):
    month: str
    items: list[BudgetOut]
