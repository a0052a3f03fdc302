"""The names of the prices a version can carry, built from one rule so each has one spelling."""

from __future__ import annotations

# Processing tiers with prices of their own. "priority" is also OpenAI's "fast" (Fast replaced
# Priority on 2026-07-30 at the same or a higher price, on the same rate limits).
TIERS: tuple[str, ...] = ("standard", "batch", "flex", "priority")
TIER_ALIASES = {"fast": "priority", "default": "standard"}
TOKEN_KINDS: tuple[str, ...] = ("input", "cached_input", "cache_write", "output")


def price_field(
    kind: str, *, tier: str = "standard", long_context: bool = False, fine_tuned: bool = False
) -> str:
    """The one spelling of a price field: ``usd_per_1m_[ft_][TIER_][long_context_]KIND_tokens``."""
    parts = ["usd_per_1m"]
    if fine_tuned:
        parts.append("ft")
    if tier != "standard":
        parts.append(tier)
    if long_context:
        parts.append("long_context")
    parts.append(f"{kind}_tokens")
    return "_".join(parts)


def _all_price_fields() -> tuple[str, ...]:
    fields = [
        # The fields of the first versions, in their original order.
        "usd_per_1m_input_tokens",
        "usd_per_1m_output_tokens",
        "usd_per_1m_cached_input_tokens",
        "usd_per_1m_batch_input_tokens",
        "usd_per_1m_batch_output_tokens",
        "usd_per_1m_training_tokens",
        "usd_per_1m_ft_input_tokens",
        "usd_per_1m_ft_output_tokens",
        "usd_per_1m_ft_cached_input_tokens",
        "usd_per_1m_ft_batch_input_tokens",
        "usd_per_1m_ft_batch_output_tokens",
    ]
    for tier in TIERS:
        for long_context in (False, True):
            for kind in TOKEN_KINDS:
                name = price_field(kind, tier=tier, long_context=long_context)
                if name not in fields:
                    fields.append(name)
    fields.append("usd_per_1m_ft_batch_cached_input_tokens")
    # Reinforcement fine-tuning is billed per hour of training, not per token.
    fields.append("usd_per_training_hour")
    return tuple(fields)


# Every price a version can carry: USD per 1M tokens, except the hourly training rate.
# Units live in the names.
PRICE_FIELDS: tuple[str, ...] = _all_price_fields()
