"""Dated free-training allowances, so an as-of estimate matches what OpenAI billed."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from pricing.errors import InvalidPriceTableError


@dataclass(frozen=True)
class Promotion:
    name: str
    model: str
    free_training_tokens_per_day: int
    starts: date
    ends: date  # the last free day
    source: str
    applies_to: str = "text"  # "vision": only image training, which estimates do not model

    def applies(self, model_id: str, as_of: date, *, vision: bool = False) -> bool:
        if self.applies_to == "vision" and not vision:
            return False
        return self.model == model_id and self.starts <= as_of <= self.ends


def training_promotion(
    promotions: Iterable[Promotion], model_id: str, as_of: date
) -> Promotion | None:
    """The most generous allowance in force for ``model_id`` on ``as_of``, if any."""
    live = [p for p in promotions if p.applies(model_id, as_of)]
    return max(live, key=lambda p: p.free_training_tokens_per_day, default=None)


def parse_promotions(data: Mapping[str, Any]) -> tuple[Promotion, ...]:
    promotions = []
    for entry in data.get("promotion", []):
        try:
            promotion = Promotion(
                name=str(entry["name"]),
                model=str(entry["model"]),
                free_training_tokens_per_day=int(entry["free_training_tokens_per_day"]),
                starts=entry["starts"],
                ends=entry["ends"],
                source=str(entry["source"]),
                applies_to=str(entry.get("applies_to", "text")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidPriceTableError(f"promotion {entry.get('name')!r}: {exc}") from None
        if promotion.ends < promotion.starts or promotion.free_training_tokens_per_day <= 0:
            raise InvalidPriceTableError(f"promotion {promotion.name!r}: empty allowance")
        promotions.append(promotion)
    return tuple(promotions)


@lru_cache(maxsize=1)
def load_promotions() -> tuple[Promotion, ...]:
    text = resources.files("pricing").joinpath("data/promotions.toml").read_text("utf-8")
    return parse_promotions(tomllib.loads(text))
