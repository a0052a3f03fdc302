"""Which prices a request pays: its processing tier, and the long-context step above a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricing.catalogue import ResolvedModel
from pricing.errors import InvalidEstimateInputError
from pricing.price_fields import TIER_ALIASES, TIERS, price_field
from pricing.prices import PriceQuote

# OpenAI offers fine-tuned models on the standard and Batch tiers only (reference section 4c).
FINE_TUNED_TIERS = ("standard", "batch")


def normalize_tier(tier: str) -> str:
    name = tier.strip().lower()
    name = TIER_ALIASES.get(name, name)
    if name not in TIERS:
        raise InvalidEstimateInputError(
            f"unknown processing tier {tier!r}; choose one of {', '.join(TIERS)} "
            "(fast is priority's name since 2026-07-30)"
        )
    return name


@dataclass(frozen=True)
class RequestPrices:
    """The per-1M prices one request pays (None: not published for this model and tier)."""

    tier: str
    long_context: bool
    input: Decimal
    output: Decimal
    cached_input: Decimal | None
    cache_write: Decimal | None
    fields: tuple[str, ...]


def request_prices(
    quote: PriceQuote, *, model: ResolvedModel, tier: str, prompt_tokens: int
) -> RequestPrices:
    """A prompt over the model's long-context threshold bills the whole request at that step."""
    tier = normalize_tier(tier)
    if model.fine_tuned and tier not in FINE_TUNED_TIERS:
        raise InvalidEstimateInputError(
            f"fine-tuned models run on the {' and '.join(FINE_TUNED_TIERS)} tiers only, not {tier}"
        )
    threshold = model.model.long_context_threshold
    long_context = threshold is not None and prompt_tokens > threshold

    def name(kind: str) -> str:
        return price_field(kind, tier=tier, long_context=long_context, fine_tuned=model.fine_tuned)

    fields = tuple(name(k) for k in ("input", "output", "cached_input", "cache_write"))
    return RequestPrices(
        tier=tier,
        long_context=long_context,
        input=quote.require(fields[0]),
        output=quote.require(fields[1]),
        cached_input=quote.prices.get(fields[2]),
        cache_write=quote.prices.get(fields[3]),
        fields=fields,
    )
