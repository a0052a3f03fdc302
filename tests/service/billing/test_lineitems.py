"""OpenAI's line item names mapped to ratecard's model, kind and price field."""

from __future__ import annotations

from datetime import date

import pytest

from pricing.catalogue import load_catalogue
from service.billing.lineitems import map_line_item

DAY = date(2025, 3, 10)
CATALOGUE = load_catalogue()


MINI, FOUR_O = "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"


@pytest.mark.parametrize(
    ("line_item", "expected"),
    [
        (f"{MINI}, input", (MINI, "inference", "input", False)),
        (f"{MINI}, output", (MINI, "inference", "output", False)),
        (f"{FOUR_O}, cached input", (FOUR_O, "inference", "cached_input", False)),
        (f"{FOUR_O}, batch input", (FOUR_O, "batch", "input", False)),
        (f"{FOUR_O}, output (batch)", (FOUR_O, "batch", "output", False)),
        (f"{MINI} input, batch", (MINI, "batch", "input", False)),
        (f"ft-{MINI}, input", (MINI, "inference", "input", True)),
        (f"ft-{MINI} training", (MINI, "training", "training", False)),
        (f"{MINI}, training", (MINI, "training", "training", False)),
        ("GPT-4o-mini, Input Tokens", (MINI, "inference", "input", False)),
        (f"ft:{MINI}:acme::AbC123, output", (MINI, "inference", "output", True)),
    ],
)
def test_map_line_item__known_names_map_to_model_kind_and_component(
    line_item: str, expected: tuple[str, str, str, bool]
) -> None:
    mapping = map_line_item(line_item, catalogue=CATALOGUE, as_of=DAY)
    assert mapping.mapped
    assert (mapping.model, mapping.kind, mapping.component, mapping.fine_tuned) == expected


def test_map_line_item__price_field_follows_the_tier_and_fine_tuning() -> None:
    def field(name: str) -> str | None:
        return map_line_item(name, catalogue=CATALOGUE, as_of=DAY).price_field

    assert field("gpt-4o-2024-08-06, batch input") == "usd_per_1m_batch_input_tokens"
    assert field("ft-gpt-4o-2024-08-06, output") == "usd_per_1m_ft_output_tokens"
    assert field("ft-gpt-4o-2024-08-06 training") == "usd_per_1m_training_tokens"


@pytest.mark.parametrize(
    ("line_item", "reason"),
    [
        ("web search tool calls", "no mapping"),
        ("gpt-4o-2024-08-06, audio input", "no mapping"),
        ("file search storage", "no mapping"),
        ("gpt-9-ultra, input", "not in the catalogue"),
        ("gpt-4o-2024-08-06, batch flex input", "more than one tier"),
        (None, "no line item"),
    ],
)
def test_map_line_item__anything_else_is_unmapped_with_the_reason(
    line_item: str | None, reason: str
) -> None:
    mapping = map_line_item(line_item, catalogue=CATALOGUE, as_of=DAY)
    assert not mapping.mapped and mapping.model is None
    assert reason in (mapping.unmapped_reason or "")


SOL, NOV = "gpt-5.6-sol", date(2026, 11, 2)


@pytest.mark.parametrize(
    ("line_item", "kind"),
    [
        (f"{SOL}, cache write", "inference"),
        (f"{SOL}, cache writes", "inference"),
        (f"{SOL}, Cache Write Input Tokens", "inference"),
        (f"{SOL}, input cache writes", "inference"),
        (f"{SOL}, cached input write", "inference"),
        (f"{SOL}, cache write (30-minute)", "inference"),
        (f"{SOL}, batch cache write", "batch"),
        (f"{SOL}, cache write (batch)", "batch"),
        (f"{SOL}, flex cache write", "flex"),
        (f"{SOL}, fast cache write", "priority"),
        ("gpt-5.6, cache write", "inference"),  # the alias: the same line as the snapshot
    ],
)
def test_map_line_item__cache_write_lines_map_to_the_cache_write_component(
    line_item: str, kind: str
) -> None:
    mapping = map_line_item(line_item, catalogue=CATALOGUE, as_of=NOV)
    assert (mapping.model, mapping.kind, mapping.component) == (SOL, kind, "cache_write")
    tier = "" if kind == "inference" else f"{kind}_"
    assert mapping.price_field == f"usd_per_1m_{tier}cache_write_tokens"


@pytest.mark.parametrize(
    ("line_item", "reason"),
    [
        (f"{SOL}, 12-hour cache write", "retention"),  # 2.5x input: not in the price data
        (f"{SOL}, cache write (12h)", "retention"),
        (f"{SOL}, cache write output", "no mapping"),
        (f"{SOL}, cache", "no mapping"),
    ],
)
def test_map_line_item__other_cache_lines_are_unmapped_with_the_reason(
    line_item: str, reason: str
) -> None:
    mapping = map_line_item(line_item, catalogue=CATALOGUE, as_of=NOV)
    assert not mapping.mapped
    assert reason in (mapping.unmapped_reason or "")
