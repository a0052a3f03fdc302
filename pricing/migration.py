"""Moving a fine-tuned workload to a base model: cost, rate-limit fit and the countdown.

Fine-tuning let teams cut instructions and examples out of their prompts; a base model needs
them back. A scenario prices the fine-tuned model's traffic on a replacement with those tokens
put back, checks the result against the replacement's tokens-per-minute pool beside the traffic
already on it, and compares it with what the fine-tuned model costs today. The service gathers
the traffic and the pools; the arithmetic is here, pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pricing.catalogue import ResolvedModel
from pricing.errors import InvalidEstimateInputError
from pricing.estimate import (
    InferenceEstimate,
    TrainingEstimate,
    Workload,
    estimate_inference,
)
from pricing.lifecycle import Lifecycle
from pricing.prices import Override, PriceBook


@dataclass(frozen=True)
class Traffic:
    """What the fine-tuned model serves: averages per request, volume, and its busiest minute."""

    requests_per_day: Decimal
    prompt_tokens: Decimal
    completion_tokens: Decimal
    cached_prompt_tokens: Decimal = Decimal(0)
    peak_tokens_per_minute: int = 0
    source: str = "given"  # "given" | "observed" (reported usage) | "imported" (OpenAI Usage API)

    def __post_init__(self) -> None:
        for name in ("requests_per_day", "prompt_tokens", "completion_tokens"):
            if getattr(self, name) < 0:
                raise InvalidEstimateInputError(f"{name} must not be negative")


@dataclass(frozen=True)
class ScenarioInput:
    model: str  # the replacement, as the user names it
    added_prompt_tokens: int | None = None  # absolute, per request
    prompt_cut: Decimal | None = None  # "the prompt was cut by 90%" = 0.9
    completion_tokens: int | None = None  # None: as today
    tier: str = "standard"


@dataclass(frozen=True)
class PoolFit:
    family: str
    tokens_per_minute_limit: int | None  # None: no limit known for the pool
    existing_peak_tokens_per_minute: int
    migrated_peak_tokens_per_minute: int

    @property
    def peak_tokens_per_minute(self) -> int:
        return self.existing_peak_tokens_per_minute + self.migrated_peak_tokens_per_minute

    @property
    def headroom_tokens_per_minute(self) -> int | None:
        if self.tokens_per_minute_limit is None:
            return None
        return self.tokens_per_minute_limit - self.peak_tokens_per_minute

    @property
    def fits(self) -> bool | None:
        headroom = self.headroom_tokens_per_minute
        return None if headroom is None else headroom >= 0


@dataclass(frozen=True)
class Scenario:
    name: str
    estimate: InferenceEstimate
    prompt_tokens: int
    added_prompt_tokens: int
    change_per_month_usd: Decimal  # against the fine-tuned model today; positive costs more
    change_percent: Decimal | None
    pool: PoolFit
    warnings: tuple[str, ...] = ()


def prompt_after_migration(current_prompt: Decimal, scenario: ScenarioInput) -> tuple[int, int]:
    """The prompt on the replacement, and how many tokens were put back.

    A cut of 90% means today's prompt is the 10% that was kept: the original was ten times
    longer, and the difference comes back.
    """
    current = math.ceil(current_prompt)
    if scenario.added_prompt_tokens is not None and scenario.prompt_cut is not None:
        raise InvalidEstimateInputError("give added prompt tokens or the prompt cut, not both")
    if scenario.added_prompt_tokens is not None:
        if scenario.added_prompt_tokens < 0:
            raise InvalidEstimateInputError("added prompt tokens must not be negative")
        return current + scenario.added_prompt_tokens, scenario.added_prompt_tokens
    if scenario.prompt_cut is not None:
        if not Decimal(0) <= scenario.prompt_cut < Decimal(1):
            raise InvalidEstimateInputError("the prompt cut is a fraction from 0 up to below 1")
        original = math.ceil(current_prompt / (Decimal(1) - scenario.prompt_cut))
        return original, original - current
    return current, 0


def price_scenario(
    *,
    today: InferenceEstimate,
    traffic: Traffic,
    scenario: ScenarioInput,
    replacement: ResolvedModel,
    book: PriceBook,
    as_of: date,
    tokens_per_minute_limit: int | None,
    existing_peak_tokens_per_minute: int,
    overrides: Iterable[Override] = (),
    lifecycle: Lifecycle | None = None,
) -> Scenario:
    prompt, added = prompt_after_migration(traffic.prompt_tokens, scenario)
    completion = (
        scenario.completion_tokens
        if scenario.completion_tokens is not None
        else math.ceil(traffic.completion_tokens)
    )
    # Prompt caching carries over in tokens: the cached part stays cached on the replacement.
    cached = min(math.floor(traffic.cached_prompt_tokens), prompt)
    workload = Workload(
        prompt_tokens=prompt,
        completion_tokens=completion,
        requests_per_day=math.ceil(traffic.requests_per_day),
        cached_prompt_tokens=cached,
    )
    estimate = estimate_inference(
        model=replacement,
        workload=workload,
        book=book,
        as_of=as_of,
        overrides=overrides,
        name=scenario.model,
        tier=scenario.tier,
        lifecycle=lifecycle,
    )
    change = estimate.cost_per_month_usd - today.cost_per_month_usd
    percent = (
        None
        if today.cost_per_month_usd == 0
        else (change / today.cost_per_month_usd * 100).quantize(Decimal("0.1"))
    )
    old_tokens = traffic.prompt_tokens + traffic.completion_tokens
    new_tokens = Decimal(prompt + completion)
    migrated_peak = (
        0
        if old_tokens == 0
        else math.ceil(Decimal(traffic.peak_tokens_per_minute) * new_tokens / old_tokens)
    )
    notes: list[str] = list(estimate.warnings)
    if scenario.tier == "batch":
        notes.append("batch answers within 24 hours: only for work that can wait")
    if scenario.tier == "flex":
        notes.append("flex may answer 429 when capacity is short: retry or fall back")
    return Scenario(
        name=scenario.model,
        estimate=estimate,
        prompt_tokens=prompt,
        added_prompt_tokens=added,
        change_per_month_usd=change,
        change_percent=percent,
        pool=PoolFit(
            family=replacement.family,
            tokens_per_minute_limit=tokens_per_minute_limit,
            existing_peak_tokens_per_minute=existing_peak_tokens_per_minute,
            migrated_peak_tokens_per_minute=migrated_peak,
        ),
        warnings=tuple(notes),
    )


@dataclass(frozen=True)
class LastFineTune:
    """Train once more on a base that still accepts jobs: does it pay before the base dies?"""

    training: TrainingEstimate
    serves_days: int  # from the day it could start serving to its base's shutdown
    saving_per_day_usd: Decimal  # against the cheapest replacement scenario
    total_saving_usd: Decimal
    pays_for_itself: bool
    shutdown_date: date


def last_fine_tune(
    *,
    training: TrainingEstimate,
    fine_tuned_today: InferenceEstimate,
    cheapest_alternative: InferenceEstimate,
    shutdown_date: date,
    as_of: date,
) -> LastFineTune:
    days = max((shutdown_date - as_of).days, 0)
    saving = cheapest_alternative.cost_per_day_usd - fine_tuned_today.cost_per_day_usd
    total = saving * days - training.cost_usd
    return LastFineTune(
        training=training,
        serves_days=days,
        saving_per_day_usd=saving,
        total_saving_usd=total,
        pays_for_itself=total > 0,
        shutdown_date=shutdown_date,
    )
