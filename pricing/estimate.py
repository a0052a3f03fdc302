"""Training and inference estimates: exact Decimal figures plus the price version they used."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from pricing.catalogue import ResolvedModel
from pricing.errors import InvalidEstimateInputError, NotFineTunableError, UnknownPriceError
from pricing.lifecycle import Lifecycle
from pricing.money import cost_of_tokens
from pricing.prices import Override, PriceBook
from pricing.promotions import Promotion, training_promotion
from pricing.tiers import request_prices

Epochs = int | Literal["auto"]
DAYS_PER_MONTH = 30
MAX_EPOCHS = 50
MIN_EXAMPLES_TO_LAUNCH = 10


def too_few_examples_warning(n_examples: int) -> str:
    """The one wording of OpenAI's minimum, shared by the dataset analysis and the estimate."""
    plural = "" if n_examples == 1 else "s"
    return (
        f"only {n_examples} example{plural}: "
        f"OpenAI requires at least {MIN_EXAMPLES_TO_LAUNCH} examples to launch a job"
    )


def default_epochs(n_examples: int) -> int:
    """OpenAI's rule for n_epochs="auto": 3, stretched for tiny sets and shrunk for huge ones."""
    if n_examples <= 0:
        raise InvalidEstimateInputError("a training set needs at least one example")
    epochs = 3
    if n_examples * epochs < 100:
        epochs = min(25, 100 // n_examples)
    elif n_examples * epochs > 25_000:
        epochs = max(1, 25_000 // n_examples)
    return epochs


@dataclass(frozen=True)
class TrainingEstimate:
    model: str
    requested_model: str
    price_version: str
    as_of: date
    n_examples: int | None
    billing_tokens: int
    n_epochs: int
    epochs_auto: bool
    charged_tokens: int
    usd_per_1m_training_tokens: Decimal
    price_source: str  # "public" | "override"
    cost_usd: Decimal
    warnings: tuple[str, ...] = ()
    method: str = "supervised"
    free_training_tokens: int = 0
    promotion: str | None = None
    # Reinforcement fine-tuning: billed per hour of training, for a duration the user assumes.
    training_hours: Decimal | None = None
    training_hours_max: Decimal | None = None
    usd_per_training_hour: Decimal | None = None
    cost_usd_max: Decimal | None = None


def estimate_training(
    *,
    model: ResolvedModel,
    book: PriceBook,
    as_of: date,
    billing_tokens: int | None = None,
    token_lengths: Sequence[int] | None = None,
    n_examples: int | None = None,
    n_epochs: Epochs = "auto",
    overrides: Iterable[Override] = (),
    warnings: Iterable[str] = (),
    method: str = "supervised",
    training_hours: Decimal | None = None,
    training_hours_max: Decimal | None = None,
    lifecycle: Lifecycle | None = None,
    promotions: Iterable[Promotion] = (),
) -> TrainingEstimate:
    """Billing tokens x epochs x training price, from a token total or per-example lengths.

    Per-example lengths are capped at the model's training limit (OpenAI truncates longer
    examples), which is what makes the cookbook's 8,032-token example bill as 4,096 on 0613.
    """
    notes = list(warnings)
    if not model.model.fine_tunable:
        raise NotFineTunableError(
            f"{model.id} cannot be fine-tuned; fine-tunable models include "
            "gpt-4o-mini-2024-07-18, gpt-4o-2024-08-06, gpt-4.1-2025-04-14 "
            "(and o4-mini-2025-04-16 for reinforcement fine-tuning)"
        )
    if method not in model.model.fine_tuning_methods:
        raise NotFineTunableError(
            f"{model.id} does not offer {method} fine-tuning "
            f"(it offers {', '.join(model.model.fine_tuning_methods)})"
        )
    if lifecycle is not None:
        verdict = lifecycle.fine_tuning(model.model, method=method, as_of=as_of)
        notes.extend(verdict.warnings)
        if not verdict.accepted:
            notes.append(
                f"OpenAI does not accept this job on {as_of.isoformat()}: {verdict.reason}"
            )
    if method == "reinforcement":
        return _estimate_reinforcement(
            model=model,
            book=book,
            as_of=as_of,
            hours=training_hours,
            hours_max=training_hours_max,
            overrides=overrides,
            notes=notes,
        )
    limit = model.model.training_example_limit
    assert limit is not None  # supervised and preference models always have one
    if token_lengths is not None:
        if billing_tokens is not None:
            raise InvalidEstimateInputError(
                "give either tokens or per-example token lengths, not both"
            )
        if any(n < 0 for n in token_lengths):
            raise InvalidEstimateInputError("token lengths must not be negative")
        truncated = [i + 1 for i, n in enumerate(token_lengths) if n > limit]
        if truncated:
            notes.append(
                f"{len(truncated)} example(s) exceed the {limit:,}-token limit of {model.id} "
                f"and will be truncated (examples {', '.join(map(str, truncated[:20]))})"
            )
        billing_tokens = sum(min(n, limit) for n in token_lengths)
        n_examples = len(token_lengths)
    if billing_tokens is None:
        raise InvalidEstimateInputError("give tokens or per-example token lengths")
    if billing_tokens < 0:
        raise InvalidEstimateInputError("tokens must not be negative")
    if n_examples is not None and n_examples < 0:
        raise InvalidEstimateInputError("n_examples must not be negative")
    epochs_auto = n_epochs == "auto"
    if n_epochs == "auto":
        if n_examples:
            epochs = default_epochs(n_examples)
        else:
            epochs = 3
            notes.append(
                "n_epochs=auto without an example count assumes 3 epochs; "
                "pass examples for OpenAI's rule"
            )
    else:
        if not 1 <= n_epochs <= MAX_EPOCHS:
            raise InvalidEstimateInputError(
                f"n_epochs must be between 1 and {MAX_EPOCHS}, or 'auto'"
            )
        epochs = n_epochs
    if n_examples is not None and n_examples < MIN_EXAMPLES_TO_LAUNCH:
        warning = too_few_examples_warning(n_examples)
        if warning not in notes:  # a file's analysis already says so
            notes.append(warning)
    quote = book.quote(model.id, as_of=as_of, overrides=overrides)
    price = quote.require("usd_per_1m_training_tokens")
    charged = billing_tokens * epochs
    promotion = training_promotion(promotions, model.id, as_of)
    free = 0
    if promotion is not None:
        free = min(charged, promotion.free_training_tokens_per_day)
        notes.append(
            f"{promotion.name} (through {promotion.ends.isoformat()}): {free:,} tokens free, "
            "assuming the job trains within one day and no other job used that day's allowance"
        )
    return TrainingEstimate(
        model=model.id,
        requested_model=model.requested,
        price_version=quote.version,
        as_of=as_of,
        n_examples=n_examples,
        billing_tokens=billing_tokens,
        n_epochs=epochs,
        epochs_auto=epochs_auto,
        charged_tokens=charged,
        usd_per_1m_training_tokens=price,
        price_source=quote.source_of("usd_per_1m_training_tokens"),
        cost_usd=cost_of_tokens(charged - free, price),
        warnings=tuple(notes),
        method=method,
        free_training_tokens=free,
        promotion=promotion.name if promotion else None,
    )


def _estimate_reinforcement(
    *,
    model: ResolvedModel,
    book: PriceBook,
    as_of: date,
    hours: Decimal | None,
    hours_max: Decimal | None,
    overrides: Iterable[Override],
    notes: list[str],
) -> TrainingEstimate:
    """Reinforcement fine-tuning is billed per hour of training, not per token (reference S34)."""
    if hours is None or hours <= 0:
        raise InvalidEstimateInputError(
            "reinforcement fine-tuning is billed per hour of training: give training_hours "
            "(a positive number, the duration you expect)"
        )
    if hours_max is not None and hours_max < hours:
        raise InvalidEstimateInputError("training_hours_max must not be below training_hours")
    quote = book.quote(model.id, as_of=as_of, overrides=overrides)
    rate = quote.require("usd_per_training_hour")
    notes.append(
        "the training duration is your assumption: OpenAI bills reinforcement fine-tuning per "
        "second of training time, and the actual cost of a finished job comes from what OpenAI "
        "reports for it; model-grader tokens are billed separately at the grader's prices"
    )
    return TrainingEstimate(
        model=model.id,
        requested_model=model.requested,
        price_version=quote.version,
        as_of=as_of,
        n_examples=None,
        billing_tokens=0,
        n_epochs=0,
        epochs_auto=False,
        charged_tokens=0,
        usd_per_1m_training_tokens=Decimal(0),
        price_source=quote.source_of("usd_per_training_hour"),
        cost_usd=hours * rate,
        warnings=tuple(notes),
        method="reinforcement",
        training_hours=hours,
        training_hours_max=hours_max,
        usd_per_training_hour=rate,
        cost_usd_max=None if hours_max is None else hours_max * rate,
    )


@dataclass(frozen=True)
class Workload:
    prompt_tokens: int
    completion_tokens: int
    requests_per_day: int
    # Of the prompt: tokens read from the prompt cache, and tokens written to it.
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0

    def __post_init__(self) -> None:
        for name in (
            "prompt_tokens",
            "completion_tokens",
            "requests_per_day",
            "cached_prompt_tokens",
            "cache_write_tokens",
        ):
            if getattr(self, name) < 0:
                raise InvalidEstimateInputError(f"{name} must not be negative")
        if self.cached_prompt_tokens + self.cache_write_tokens > self.prompt_tokens:
            raise InvalidEstimateInputError(
                "cached_prompt_tokens and cache_write_tokens are parts of prompt_tokens: "
                "together they cannot exceed it"
            )


@dataclass(frozen=True)
class InferenceEstimate:
    name: str
    model: str
    requested_model: str
    fine_tuned: bool
    price_version: str
    as_of: date
    workload: Workload
    usd_per_1m_input_tokens: Decimal
    usd_per_1m_output_tokens: Decimal
    price_source: str
    cost_per_request_usd: Decimal
    cost_per_day_usd: Decimal
    cost_per_month_usd: Decimal
    tier: str = "standard"
    long_context: bool = False
    usd_per_1m_cached_input_tokens: Decimal | None = None
    usd_per_1m_cache_write_tokens: Decimal | None = None
    warnings: tuple[str, ...] = ()


def estimate_inference(
    *,
    model: ResolvedModel,
    workload: Workload,
    book: PriceBook,
    as_of: date,
    overrides: Iterable[Override] = (),
    name: str | None = None,
    tier: str = "standard",
    lifecycle: Lifecycle | None = None,
) -> InferenceEstimate:
    """Per request, per day and per 30-day month, at the tier's prices.

    Fine-tuned names use the fine-tuned prices. Cached prompt tokens bill at the cached price;
    cache writes at the cache-write price where the model has one (from GPT-5.6 on), as ordinary
    input before that, when OpenAI did not bill them separately.
    """
    quote = book.quote(model.id, as_of=as_of, overrides=overrides)
    prices = request_prices(quote, model=model, tier=tier, prompt_tokens=workload.prompt_tokens)
    usd_in, usd_out = prices.input, prices.output
    if workload.cached_prompt_tokens and prices.cached_input is None:
        raise UnknownPriceError(model.id, prices.fields[2], quote.version)
    usd_write = usd_in if prices.cache_write is None else prices.cache_write
    uncached = workload.prompt_tokens - workload.cached_prompt_tokens - workload.cache_write_tokens
    per_request = (
        cost_of_tokens(uncached, usd_in)
        + cost_of_tokens(workload.cached_prompt_tokens, prices.cached_input or Decimal(0))
        + cost_of_tokens(workload.cache_write_tokens, usd_write)
        + cost_of_tokens(workload.completion_tokens, usd_out)
    )
    per_day = per_request * workload.requests_per_day
    source = "override" if set(prices.fields) & quote.overridden else "public"
    notes: list[str] = []
    if prices.long_context:
        notes.append(
            f"the prompt is over {model.model.long_context_threshold:,} tokens: the whole "
            "request is billed at the long-context prices"
        )
    if lifecycle is not None:
        notes.extend(lifecycle.inference_warnings(model, as_of=as_of))
    return InferenceEstimate(
        name=name or model.requested,
        model=model.id,
        requested_model=model.requested,
        fine_tuned=model.fine_tuned,
        price_version=quote.version,
        as_of=as_of,
        workload=workload,
        usd_per_1m_input_tokens=usd_in,
        usd_per_1m_output_tokens=usd_out,
        price_source=source,
        cost_per_request_usd=per_request,
        cost_per_day_usd=per_day,
        cost_per_month_usd=per_day * DAYS_PER_MONTH,
        tier=prices.tier,
        long_context=prices.long_context,
        usd_per_1m_cached_input_tokens=prices.cached_input,
        usd_per_1m_cache_write_tokens=prices.cache_write,
        warnings=tuple(notes),
    )


@dataclass(frozen=True)
class BreakEven:
    """When a one-time training cost is recovered against one alternative."""

    against: str
    saving_per_request_usd: Decimal
    requests: int | None  # None = never: the fine-tuned model costs as much or more per request
    days: Decimal | None

    @property
    def never(self) -> bool:
        return self.requests is None


def break_even(
    *, fine_tuned: InferenceEstimate, alternative: InferenceEstimate, training_cost_usd: Decimal
) -> BreakEven:
    saving = alternative.cost_per_request_usd - fine_tuned.cost_per_request_usd
    if saving <= 0:
        return BreakEven(alternative.name, saving, None, None)
    requests = math.ceil(training_cost_usd / saving) if training_cost_usd > 0 else 0
    per_day = fine_tuned.workload.requests_per_day
    days = (Decimal(requests) / per_day) if per_day else None
    return BreakEven(alternative.name, saving, requests, days)


@dataclass(frozen=True)
class Comparison:
    scenarios: tuple[InferenceEstimate, ...]
    training: TrainingEstimate | None
    break_even: tuple[BreakEven, ...] = field(default_factory=tuple)


def compare_scenarios(
    scenarios: Sequence[InferenceEstimate], *, training: TrainingEstimate | None = None
) -> Comparison:
    """Scenarios side by side; break-even for every fine-tuned scenario against every other one."""
    results: list[BreakEven] = []
    if training is not None:
        for ft in (s for s in scenarios if s.fine_tuned):
            for other in (s for s in scenarios if s is not ft and not s.fine_tuned):
                results.append(
                    break_even(
                        fine_tuned=ft, alternative=other, training_cost_usd=training.cost_usd
                    )
                )
    return Comparison(tuple(scenarios), training, tuple(results))


def shortened_prompt(prompt_tokens: int, cut: Decimal) -> int:
    """Prompt length after fine-tuning moves instructions into the model (cut=0.9 keeps 10%)."""
    if not Decimal(0) <= cut < Decimal(1):
        raise InvalidEstimateInputError("prompt cut must be at least 0 and below 1")
    return math.ceil(Decimal(prompt_tokens) * (Decimal(1) - cut))
