"""Default rate limits per OpenAI usage tier, from the table shipped as data.

These apply to an organisation's family pool until a limit is set explicitly or learned from the
``x-ratelimit-*`` headers OpenAI returns. A family the chosen tier does not list has no default:
callers must treat it as unknown rather than guess.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class TierLimit:
    requests_per_minute: int
    tokens_per_minute: int


@dataclass(frozen=True)
class TierTable:
    default_tier: str
    tiers: dict[str, dict[str, TierLimit]]

    def limit(self, family: str, tier: str | None = None) -> TierLimit | None:
        """The default limit of ``family`` in ``tier`` (the table's default tier when None)."""
        name = self.default_tier if tier is None else tier
        if name not in self.tiers:
            raise KeyError(f"unknown usage tier {name!r}; known: {', '.join(self.tiers)}")
        return self.tiers[name].get(family)


def parse_tier_table(text: str) -> TierTable:
    data: dict[str, Any] = tomllib.loads(text)
    tiers: dict[str, dict[str, TierLimit]] = {}
    for tier, families in data["tiers"].items():
        tiers[str(tier)] = {
            family: TierLimit(int(row["requests_per_minute"]), int(row["tokens_per_minute"]))
            for family, row in families.items()
        }
    default = str(data["default_tier"])
    if default not in tiers:
        raise ValueError(f"default_tier {default!r} is not one of the tiers")
    return TierTable(default_tier=default, tiers=tiers)


@lru_cache(maxsize=1)
def load_tier_table() -> TierTable:
    """The tier table shipped with the package (cached: it is immutable data)."""
    text = resources.files("pricing").joinpath("data/rate_limit_tiers.toml").read_text("utf-8")
    return parse_tier_table(text)
