"""Request and response bodies of the usage API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    model_validator,
)

MAX_TOKENS_PER_EVENT = 10_000_000
MAX_BATCH = 10_000

TPM_RULE = (
    "TPM counting rule (as OpenAI's limiter counts a request): a request counts "
    "`prompt_tokens + max_tokens` when `max_tokens` is given, else `prompt_tokens + "
    "completion_tokens`. "
    "Every model name resolves through the pricing catalogue to its family pool, so dated "
    "snapshots and "
    "every `ft:` model built on a base draw from the base's pool."
)

TokenCount = Annotated[StrictInt, Field(ge=0, le=MAX_TOKENS_PER_EVENT)]
Org = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="organisation whose pools this concerns; default: the service's "
        'OpenAI organisation, else "default"',
    ),
]
# Printable text only: control characters (NUL above all, which PostgreSQL cannot store) are
# refused at the edge instead of failing in the database.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
ModelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=PRINTABLE,
        examples=["ft:gpt-3.5-turbo-0613:acme::8abc123"],
    ),
]


class UsageEventIn(BaseModel):
    """One API request a client made to OpenAI."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName
    prompt_tokens: TokenCount
    completion_tokens: TokenCount = 0
    max_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS_PER_EVENT)] | None = Field(
        None,
        description=(
            "the request's max_tokens; when given it is counted instead of completion_tokens"
        ),
    )
    total_tokens: TokenCount | None = Field(
        None, description="ignored; accepted so OpenAI's `usage` object can be passed through as is"
    )
    timestamp: AwareDatetime = Field(
        description="when the request was made, with a UTC offset; "
        "at most 5 minutes ahead and 7 days behind the server clock"
    )
    request_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=PRINTABLE,
        description="counted once per organisation, however often it is sent",
    )


class SingleUsageEventIn(UsageEventIn):
    org: Org | None = None


class UsageBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org: Org | None = None
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_BATCH)


def _usage_body_kind(value: Any) -> str:
    if isinstance(value, dict) and "events" in value:
        return "batch"
    if isinstance(value, UsageBatchIn):
        return "batch"
    return "event"


UsageBody = Annotated[
    Annotated[SingleUsageEventIn, Tag("event")] | Annotated[UsageBatchIn, Tag("batch")],
    Discriminator(_usage_body_kind),
]


class PoolDelta(BaseModel):
    family: str
    tokens: int
    requests: int


class UsageIngestOut(BaseModel):
    org: str
    received: int
    accepted: int
    duplicates: int = Field(
        description="events whose request_id was already counted (or repeated in the batch)"
    )
    duplicate_request_ids: list[str] = Field(description="the first 100 duplicate request ids")
    tokens_counted: int
    requests_counted: int
    pools: list[PoolDelta]


class RateLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org: Org | None = None
    model: ModelName = Field(
        description="the model the response was for (any name; its family is learned)"
    )
    headers: dict[
        Annotated[str, Field(max_length=200)], Annotated[str, Field(max_length=200)] | StrictInt
    ] = Field(
        max_length=200,
        description=(
            "response headers as seen (names in any case; non-rate-limit headers are ignored)"
        ),
        examples=[
            {
                "x-ratelimit-limit-requests": "3500",
                "x-ratelimit-limit-tokens": "90000",
                "x-ratelimit-remaining-requests": "3499",
                "x-ratelimit-remaining-tokens": "89000",
                "x-ratelimit-reset-requests": "17ms",
                "x-ratelimit-reset-tokens": "6m0s",
            }
        ],
    )
    observed_at: AwareDatetime | None = Field(
        None, description="when the response was received; default now"
    )


class LimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens_per_minute: Annotated[StrictInt, Field(ge=1, le=10**11)]
    requests_per_minute: Annotated[StrictInt, Field(ge=1, le=10**9)] | None = None


class ConfiguredOut(BaseModel):
    tokens_per_minute: int | None
    requests_per_minute: int | None
    by: str | None
    at: datetime | None


class LearnedOut(BaseModel):
    tokens_per_minute: int | None
    requests_per_minute: int | None
    model: str | None
    observed_at: datetime | None


class TierDefaultOut(BaseModel):
    tier: str
    tokens_per_minute: int
    requests_per_minute: int


class ObservedOut(BaseModel):
    remaining_tokens: int | None
    remaining_requests: int | None
    tokens_reset_at: datetime | None
    requests_reset_at: datetime | None
    observed_at: datetime


class LimitOut(BaseModel):
    org: str
    family: str
    tokens_per_minute: int | None = Field(
        description="the limit in force: configured, else learned, else tier default"
    )
    requests_per_minute: int | None
    tokens_source: str | None = Field(
        description="configured | headers | tier:<name> | null when unknown"
    )
    requests_source: str | None
    configured: ConfiguredOut | None
    learned: LearnedOut | None
    tier_default: TierDefaultOut | None
    observed: ObservedOut | None = Field(
        description="the last x-ratelimit-* observation (remaining and resets)"
    )


class LimitList(BaseModel):
    org: str
    tier: str
    limits: list[LimitOut]


class ModelUsageOut(BaseModel):
    model: str = Field(
        description="dated snapshot for base models, the full name for each ft: model"
    )
    fine_tuned: bool
    tokens_per_minute: int
    requests_per_minute: int
    share_pct: str = Field(description="share of the pool's tokens in the window, one decimal")


class WindowOut(BaseModel):
    """The 10-second buckets counted as "now": the one holding `end` and the five before it."""

    start: datetime
    end: datetime
    seconds: float = Field(description="end - start: between 50 and 60")


class AlertStateOut(BaseModel):
    threshold_pct: int
    rearm_below_pct: int
    state: Literal["above", "below"]
    changed_at: datetime | None


class PoolOut(BaseModel):
    org: str
    family: str
    as_of: datetime
    window: WindowOut
    tokens_per_minute: int
    requests_per_minute: int
    limit: LimitOut
    headroom_tokens_per_minute: int | None = Field(
        description="limit minus current; negative when over"
    )
    headroom_requests_per_minute: int | None
    tokens_utilisation_pct: str | None
    requests_utilisation_pct: str | None
    utilisation_pct: str | None = Field(
        description="the higher of the token and request utilisations"
    )
    models: list[ModelUsageOut]
    warnings: list[str] = Field(
        default_factory=list,
        description="shutdowns as of the view's date: the pool's whole family shut down, or "
        "models still sending requests after their (or their base model's) shutdown",
    )
    alert: AlertStateOut


class PoolList(BaseModel):
    org: str
    as_of: datetime
    pools: list[PoolOut]


class MinuteOut(BaseModel):
    minute: datetime
    tokens: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    source: Literal["reported", "imported", "both"] | None = Field(
        None,
        description="where the figure came from: clients' reports, OpenAI's Usage API (imported), "
        "or both, combined as the larger per model and bucket; null for an idle minute",
    )
    estimated: bool = Field(
        False,
        description="includes an even share of an imported hour or day bucket; peak and p95 "
        "leave such shares out",
    )


class PeakOut(BaseModel):
    tokens_per_minute: int
    tokens_minute: datetime | None
    requests_per_minute: int
    requests_minute: datetime | None


class P95Out(BaseModel):
    tokens_per_minute: int
    requests_per_minute: int


class TotalOut(BaseModel):
    tokens: int
    requests: int
    prompt_tokens: int
    completion_tokens: int


class HistoryOut(BaseModel):
    org: str
    family: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    minutes: list[MinuteOut] = Field(description="every minute in the range, idle minutes as zeros")
    total: TotalOut
    peak: PeakOut
    p95: P95Out = Field(description="nearest-rank 95th percentile over every minute in the range")
    limit: LimitOut


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org: Org | None = None
    model: ModelName
    requests_per_minute: Annotated[StrictInt, Field(ge=1, le=10**9)]
    tokens_per_request: TokenCount | None = Field(
        None, description="already counted by the TPM rule"
    )
    prompt_tokens: TokenCount | None = Field(None, description="instead of tokens_per_request")
    max_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS_PER_EVENT)] | None = None
    completion_tokens: TokenCount | None = None
    basis: Literal["peak", "p95"] = Field(
        "peak", description="which figure of the rest of the pool's recent traffic to plan against"
    )
    lookback_minutes: Annotated[StrictInt, Field(ge=1, le=7 * 24 * 60)] = 60

    @model_validator(mode="after")
    def _one_size(self) -> PlanIn:
        if (self.tokens_per_request is None) == (self.prompt_tokens is None):
            raise ValueError(
                "give exactly one of tokens_per_request or prompt_tokens (with max_tokens or "
                "completion_tokens)"
            )
        if self.tokens_per_request is not None and (
            self.max_tokens is not None or self.completion_tokens is not None
        ):
            raise ValueError(
                "max_tokens and completion_tokens go with prompt_tokens, not tokens_per_request"
            )
        if self.request_tokens() < 1:
            raise ValueError("a request counts at least one token")
        return self

    def request_tokens(self) -> int:
        if self.tokens_per_request is not None:
            return self.tokens_per_request
        prompt = self.prompt_tokens or 0
        return prompt + (
            self.max_tokens if self.max_tokens is not None else (self.completion_tokens or 0)
        )


class PlanRequestOut(BaseModel):
    requests_per_minute: int
    tokens_per_request: int
    tokens_per_minute: int


class OtherTrafficOut(BaseModel):
    basis: Literal["peak", "p95"]
    lookback_minutes: int
    tokens_per_minute: int
    requests_per_minute: int
    excluded_model: str = Field(
        description="the planned model's own traffic, which the plan replaces"
    )


class AvailableOut(BaseModel):
    tokens_per_minute: int
    requests_per_minute: int | None


class ShortByOut(BaseModel):
    tokens_per_minute: int
    requests_per_minute: int


class WouldFitOut(BaseModel):
    max_requests_per_minute: int = Field(description="at the requested tokens per request")
    max_tokens_per_request: int = Field(description="at the requested requests per minute")


class PlanOut(BaseModel):
    org: str
    model: str
    requested_model: str
    family: str
    fine_tuned: bool
    as_of: datetime
    request: PlanRequestOut
    limit: LimitOut
    other_traffic: OtherTrafficOut
    available: AvailableOut
    fits: bool
    short_by: ShortByOut | None
    would_fit: WouldFitOut
    utilisation_after_pct: str
    alert_threshold_pct: int
    above_alert_threshold: bool
    summary: str
