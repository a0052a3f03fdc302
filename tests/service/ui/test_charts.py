"""Server-side SVG charts: bars to scale from zero, values carried exactly, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from service.ui.charts import Series, bar_chart, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own markup, parsed to check it is well formed


@pytest.mark.parametrize(
    ("value", "top"),
    [
        (Decimal("0.4"), Decimal("0.5")),
        (Decimal("2.1"), Decimal("2.5")),
        (Decimal(7), Decimal(10)),
        (Decimal(80), Decimal(100)),
        (Decimal(100), Decimal(100)),
        (Decimal(0), Decimal(1)),
    ],
)
def test_nice_ceiling__rounds_up_to_1_2_2_5_or_5_times_a_power_of_ten(
    value: Decimal, top: Decimal
) -> None:
    assert nice_ceiling(value) == top


def test_bar_chart__one_bar_per_category_and_series_with_exact_values() -> None:
    svg = bar_chart(
        title="spend",
        categories=["a", "b"],
        series=[
            Series("estimated", [Decimal("0.40"), Decimal(0)]),
            Series("actual", [Decimal("1.25"), Decimal("2.10")]),
        ],
    )

    bars = [r for r in parse(svg).iter(f"{SVG}rect") if "bar" in r.get("class", "").split()]
    assert [(b.get("data-category"), b.get("data-series"), b.get("data-value")) for b in bars] == [
        ("a", "estimated", "0.40"),
        ("a", "actual", "1.25"),
        ("b", "estimated", "0"),
        ("b", "actual", "2.10"),
    ]
    # The axis runs 0..2.5, so 2.10 is 84% of the plot's height and 0 has no height.
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[3] == pytest.approx(208 * 0.84, abs=0.01)
    assert heights[2] == 0
    assert heights[0] / heights[3] == pytest.approx(0.40 / 2.10, rel=1e-3)


def test_bar_chart__threshold_line_sits_at_its_value() -> None:
    svg = bar_chart(
        title="pools",
        categories=["gpt-4o-mini"],
        series=[Series("utilisation", [Decimal(40)])],
        threshold=Decimal(80),
    )

    [line] = [el for el in parse(svg).iter(f"{SVG}line") if el.get("class") == "threshold"]
    assert line.get("data-value") == "80"
    assert float(line.get("y1") or 0) == pytest.approx(16 + 208 * 0.2)


def test_bar_chart__escapes_names_it_did_not_write() -> None:
    svg = bar_chart(
        title='<script>alert("x")</script>',
        categories=['team "<b>'],
        series=[Series("actual", [Decimal(1)])],
    )

    root = parse(svg)  # well formed: nothing broke out of an attribute or element
    assert "<script>" not in svg
    assert root.find(f"{SVG}title") is not None


def test_bar_chart__without_data_says_so() -> None:
    svg = bar_chart(title="spend", categories=[], series=[Series("actual", [])])

    assert "nothing to show" in svg


def test_bar_chart__refuses_a_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="2 values for 1"):
        bar_chart(title="x", categories=["a"], series=[Series("s", [Decimal(1), Decimal(2)])])


def test_timeline__places_events_in_proportion_to_their_time() -> None:
    from datetime import UTC, datetime, timedelta

    from service.ui.charts import Moment, timeline

    start = datetime(2026, 1, 1, tzinfo=UTC)
    svg = timeline(
        title="job",
        moments=[
            Moment(start, "created"),
            Moment(start + timedelta(seconds=30), "running"),
            Moment(start + timedelta(seconds=120), "failed <oops>", "error"),
        ],
    )

    dots = list(parse(svg).iter(f"{SVG}circle"))
    xs = [float(d.get("cx") or 0) for d in dots]
    assert (xs[1] - xs[0]) / (xs[2] - xs[0]) == pytest.approx(0.25, abs=0.01)
    assert dots[2].get("class") == "event level-error"


def test_hbar_chart__rows_to_scale_with_full_names_and_values() -> None:
    from service.ui.charts import hbar_chart

    name = "ft:gpt-4o-mini-2024-07-18:acme"
    svg = hbar_chart(
        title="countdown",
        categories=[name, "gpt-4o"],
        series=[Series("days_left", [Decimal(30), Decimal(120)])],
    )

    bars = [r for r in parse(svg).iter(f"{SVG}rect") if "bar" in r.get("class", "").split()]
    assert [(b.get("data-category"), b.get("data-value")) for b in bars] == [
        (name, "30"),
        ("gpt-4o", "120"),
    ]
    widths = [float(b.get("width") or 0) for b in bars]
    assert widths[0] / widths[1] == pytest.approx(30 / 120, rel=1e-3)
    assert name in svg  # named in full, not cut at the axis
