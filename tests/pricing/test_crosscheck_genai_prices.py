"""ratecard's latest inference prices held against an independent, well-kept table.

genai-prices (PyPI) ships its own snapshot and works offline. Every OpenAI model both know must
agree on input, cached input and output, or the difference is listed, with the reason and the
source that shows ratecard right, in genai_prices_differences.toml beside this file.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

genai_prices = pytest.importorskip("genai_prices")

from pricing.prices import load_builtin_price_book  # noqa: E402

TODAY = date(2026, 12, 6)
# Below every long-context threshold, scaled up to a per-1M price.
PROBE_TOKENS = 100_000
SCALE = 1_000_000 // PROBE_TOKENS
FIELDS = (
    "usd_per_1m_input_tokens",
    "usd_per_1m_cached_input_tokens",
    "usd_per_1m_output_tokens",
)


def _theirs(model_id: str) -> dict[str, Decimal] | None:
    when = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC)

    def calc(**usage: int) -> object:
        return genai_prices.calc_price(
            genai_prices.Usage(**usage),
            model_id,
            provider_id="openai",
            genai_request_timestamp=when,
        )

    try:
        uncached = calc(input_tokens=PROBE_TOKENS).input_price * SCALE
        cached = calc(input_tokens=PROBE_TOKENS, cache_read_tokens=PROBE_TOKENS).input_price
        output = calc(output_tokens=PROBE_TOKENS).output_price * SCALE
    except LookupError:
        return None
    return {
        "usd_per_1m_input_tokens": uncached,
        "usd_per_1m_cached_input_tokens": cached * SCALE,
        "usd_per_1m_output_tokens": output,
    }


def _differences() -> dict[tuple[str, str], dict[str, str]]:
    data = tomllib.loads((Path(__file__).parent / "genai_prices_differences.toml").read_text())
    return {(d["model"], d["field"]): d for d in data["difference"]}


def test_crosscheck__latest_prices_agree_with_genai_prices_or_are_reviewed():
    version = load_builtin_price_book().in_force(TODAY)
    reviewed = _differences()
    compared, found = 0, {}
    for model_id, prices in sorted(version.models.items()):
        theirs = _theirs(model_id)
        if theirs is None:
            continue
        compared += 1
        for field in FIELDS:
            ours = prices.get(field)
            if ours is None:
                # No cached price published: genai-prices then bills cache reads as input.
                if field == "usd_per_1m_cached_input_tokens":
                    ours = prices.get("usd_per_1m_input_tokens")
                else:
                    continue
            if ours != theirs[field]:
                found[(model_id, field)] = (ours, theirs[field])
    unexplained = {k: v for k, v in found.items() if k not in reviewed}
    assert not unexplained, f"prices that differ from genai-prices, not reviewed: {unexplained}"
    stale = sorted(k for k in reviewed if k not in found)
    assert not stale, f"reviewed differences that no longer differ: {stale}"
    for key, (ours, theirs) in found.items():
        entry = reviewed[key]
        assert (Decimal(entry["ratecard"]), Decimal(entry["genai_prices"])) == (ours, theirs)
        assert entry["reason"] and entry["source"]
    # The check must cover the families teams migrate to, not pass by matching nothing.
    assert compared >= 50


def test_crosscheck__snapshot_is_the_one_the_differences_were_reviewed_against():
    from importlib.metadata import version

    assert version("genai-prices") == "0.2.5"
