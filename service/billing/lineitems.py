"""OpenAI's cost line items mapped to ratecard's model, kind and price field.

The Costs API names a line item ``"<model>, <what>"`` (sometimes without the comma; a model
name holds neither a space nor a comma, so it ends at the first of them). The model
part is a dated snapshot, an alias, an ``ft:`` name, or ``ft-<base>`` for a fine-tuned model;
the rest says what was billed. The mapping, word by word (case-insensitive):

=======================  ===========  ============  ==========================================
words after the model     kind         component     price field (``ft_`` for fine-tuned)
=======================  ===========  ============  ==========================================
``input``                 inference    input         ``usd_per_1m_input_tokens``
``output``                inference    output        ``usd_per_1m_output_tokens``
``cached input``          inference    cached_input  ``usd_per_1m_cached_input_tokens``
``cache write`` (1)       inference    cache_write   ``usd_per_1m_cache_write_tokens``
``batch input|output``    batch        input/output  ``usd_per_1m_batch_input_tokens`` …
``flex …`` / ``priority`` flex/priority …            ``usd_per_1m_flex_input_tokens`` …
  ``…`` / ``fast …``
``training``              training     training      ``usd_per_1m_training_tokens``
=======================  ===========  ============  ==========================================

``batch`` (or a tier) may come before or after the token word ("batch input", "input (batch)",
"input, batch"). Anything else (audio, images, tool calls, storage, a model the catalogue does
not know) is kept as OpenAI named it and listed as unmapped, with the reason.

(1) An assumption: the reference names the price "cache writes" (GPT-5.6 on) but quotes no bill
line, so any of "cache write(s)", "cache write input", "input cache write(s)" or "cached input
write(s)", with a tier word or not, is the cache-write component. A line naming a retention in
hours ("12-hour cache write") is left unmapped: that rate (2.5x input) is not in the price data,
and the Usage API does not tell the writes of the two retentions apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pricing.catalogue import Catalogue
from pricing.errors import PricingError
from pricing.price_fields import price_field

TIER_WORDS = {"batch": "batch", "flex": "flex", "priority": "priority", "fast": "priority"}
_WORD = re.compile(r"[a-z]+")
_HEAD = re.compile(r"\s*([^\s,]*)[\s,]*(.*)", re.DOTALL)
_FILLER = frozenset({"tokens", "token", "usage", "standard", "default"})
# The words of a cache-write line, "input" optional; the retention OpenAI prices as "cache write"
# (30 minutes) may be named, a retention in hours may not (see the module docstring).
_CACHE_WRITE = frozenset({"cache", "write"})
_WRITE_SPELLINGS = {"writes": "write", "cached": "cache"}
_SHORT_RETENTION = frozenset({"minute", "minutes", "min", "m"})
_LONG_RETENTION = frozenset({"hour", "hours", "h", "extended"})


@dataclass(frozen=True)
class Mapping:
    model: str | None  # catalogue id of the (base) model
    kind: str | None  # training, inference, batch, flex, priority
    component: str | None  # input, output, cached_input, cache_write, training
    fine_tuned: bool = False
    unmapped_reason: str | None = None

    @property
    def mapped(self) -> bool:
        return self.unmapped_reason is None

    @property
    def price_field(self) -> str | None:
        if not self.mapped or self.component is None:
            return None
        if self.component == "training":
            return "usd_per_1m_training_tokens"
        tier = self.kind if self.kind in ("batch", "flex", "priority") else "standard"
        return price_field(self.component, tier=tier, fine_tuned=self.fine_tuned)


def split_line_item(line_item: str) -> tuple[str, str]:
    """(model part, description): a model name holds no space or comma, so it ends at one."""
    match = _HEAD.match(line_item)
    return (match.group(1), match.group(2).strip()) if match else ("", "")


def _describe(words: list[str]) -> tuple[str | None, str | None, str | None]:
    """(kind, component, problem) from the words after the model."""
    tiers = {TIER_WORDS[w] for w in words if w in TIER_WORDS}
    rest = [w for w in words if w not in TIER_WORDS and w not in _FILLER]
    if len(tiers) > 1:
        return None, None, f"more than one tier in {' '.join(words)!r}"
    tier = tiers.pop() if tiers else None
    if rest == ["training"] and tier is None:
        return "training", "training", None
    if rest == ["cached", "input"]:
        return tier or "inference", "cached_input", None
    if "write" in rest or "writes" in rest:
        return _cache_write(rest, tier, words)
    if rest in (["input"], ["output"]):
        return tier or "inference", rest[0], None
    return None, None, f"no mapping for {' '.join(words)!r}"


def _cache_write(
    rest: list[str], tier: str | None, words: list[str]
) -> tuple[str | None, str | None, str | None]:
    named = [_WRITE_SPELLINGS.get(w, w) for w in rest]
    if _LONG_RETENTION & set(named):
        return None, None, f"no price for the retention of {' '.join(words)!r}"
    named = [w for w in named if w not in _SHORT_RETENTION]
    if "input" in named:
        named.remove("input")
    if sorted(named) == sorted(_CACHE_WRITE):
        return tier or "inference", "cache_write", None
    return None, None, f"no mapping for {' '.join(words)!r}"


def map_line_item(line_item: str | None, *, catalogue: Catalogue, as_of: date) -> Mapping:
    if not line_item:
        return Mapping(None, None, None, unmapped_reason="no line item")
    head, rest = split_line_item(line_item)
    kind, component, problem = _describe(_WORD.findall(rest.lower()))
    if problem is not None:
        return Mapping(None, None, None, unmapped_reason=problem)
    fine_tuned = False
    name = head
    if head.lower().startswith("ft-"):
        name, fine_tuned = head[3:], True
    try:
        resolved = catalogue.resolve(name, as_of=as_of)
    except PricingError:
        return Mapping(None, kind, component, fine_tuned, f"model {head!r} is not in the catalogue")
    fine_tuned = fine_tuned or resolved.fine_tuned
    if component == "training":
        fine_tuned = False  # training is priced on the base model
    return Mapping(resolved.id, kind, component, fine_tuned)
