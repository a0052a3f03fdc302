"""Charts drawn on the server as inline SVG: pure functions from numbers to markup.

No JavaScript chart library: the pages work on an air-gapped host with nothing to fetch and
nothing to build, under a Content-Security-Policy that forbids scripts; the picture is exactly
the numbers of the table beside it (each bar carries its value in data attributes, which is
what the browser tests read), and the test of a chart is a test of a function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 56
_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass(frozen=True)
class Series:
    """One colour of bars: a name (a CSS class suffix too) and a value per category."""

    name: str
    values: Sequence[Decimal]


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (axis top)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(1).scaleb(value.adjusted())
    for step in _STEPS:
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # unreachable: 10 x magnitude always covers value


def _num(value: Decimal | float) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _label(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def bar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    threshold: Decimal | None = None,
    chart_id: str = "chart",
    label_every: int = 1,
) -> str:
    """Grouped vertical bars: one group per category, one bar per series, a y axis from zero.

    ``threshold`` draws a horizontal line (an alert threshold, a limit) across the plot;
    ``label_every`` names only every n-th category under the axis (a long series of minutes).
    """
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(categories)}")
    values = [v for s in series for v in s.values]
    top = nice_ceiling(max([*values, threshold or Decimal(0), Decimal(0)]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_attr(chart_id)}" class="chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_attr(title)}" '
        f'data-unit="{_attr(unit)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        tick = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(_label(tick))}</text>"
        )
    if categories and series:
        group_w = plot_w / len(categories)
        bar_w = group_w * 0.8 / len(series)
        for c, category in enumerate(categories):
            x0 = LEFT + group_w * c + group_w * 0.1
            for s_index, s in enumerate(series):
                value = s.values[c]
                h = plot_h * float(max(value, Decimal(0)) / top)
                x = x0 + bar_w * s_index
                parts.append(
                    f'<rect class="bar series-{_attr(s.name)}" x="{_num(x)}" '
                    f'y="{_num(TOP + plot_h - h)}" width="{_num(max(bar_w - 2, 1))}" '
                    f'height="{_num(h)}" data-category="{_attr(category)}" '
                    f'data-series="{_attr(s.name)}" data-value="{_attr(value)}">'
                    f"<title>{escape(f'{category} {s.name}: {value}{unit}')}</title></rect>"
                )
            if c % label_every == 0:
                parts.append(
                    f'<text class="category" x="{_num(x0 + group_w * 0.4)}" '
                    f'y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                    f"{escape(category[:18])}</text>"
                )
    else:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "nothing to show</text>"
        )
    if threshold is not None:
        y = TOP + plot_h - plot_h * float(threshold / top)
        parts.append(
            f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y)}" '
            f'y2="{_num(y)}" data-value="{_attr(threshold)}"/>'
        )
    for s_index, s in enumerate(series):
        x = LEFT + 150 * s_index
        parts.append(
            f'<rect class="key series-{_attr(s.name)}" x="{x}" y="{HEIGHT - 18}" '
            f'width="12" height="12"/><text class="legend" x="{x + 16}" y="{HEIGHT - 8}">'
            f"{escape(s.name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


LABEL_W, ROW_H = 230, 22


def hbar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    chart_id: str = "chart",
) -> str:
    """Grouped horizontal bars: a row per category, named in full at the left, each bar's value
    at its end; for long names (model ids) and many rows, where columns would overlap."""
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(categories)}")
    top = nice_ceiling(max([Decimal(0), *(v for s in series for v in s.values)]))
    group_h = ROW_H * max(len(series), 1) + 8
    plot_w = WIDTH - LABEL_W - RIGHT - 60
    height = TOP + group_h * max(len(categories), 1) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_attr(chart_id)}" class="chart" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_attr(title)}" '
        f'data-unit="{_attr(unit)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not categories or not series:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{TOP + 20}" text-anchor="middle">'
            "nothing to show</text>"
        )
    for c, category in enumerate(categories):
        y0 = TOP + group_h * c
        parts.append(
            f'<text class="category" x="{LABEL_W - 8}" y="{_num(y0 + group_h / 2 + 2)}" '
            f'text-anchor="end">{escape(category[:40])}</text>'
        )
        for s_index, s in enumerate(series):
            value = s.values[c]
            w = plot_w * float(max(value, Decimal(0)) / top)
            y = y0 + ROW_H * s_index + 4
            parts.append(
                f'<rect class="bar series-{_attr(s.name)}" x="{LABEL_W}" y="{_num(y)}" '
                f'width="{_num(w)}" height="{ROW_H - 4}" data-category="{_attr(category)}" '
                f'data-series="{_attr(s.name)}" data-value="{_attr(value)}">'
                f"<title>{escape(f'{category} {s.name}: {value}{unit}')}</title></rect>"
                f'<text class="tick" x="{_num(LABEL_W + w + 4)}" y="{_num(y + ROW_H - 8)}">'
                f"{escape(_label(value))}</text>"
            )
    legend_y = height - 10
    for s_index, s in enumerate(series):
        x = LABEL_W + 150 * s_index
        parts.append(
            f'<rect class="key series-{_attr(s.name)}" x="{x}" y="{legend_y - 10}" '
            f'width="12" height="12"/><text class="legend" x="{x + 16}" y="{legend_y}">'
            f"{escape(s.name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Moment:
    """A point of a timeline: when, a short label and a level (a CSS class suffix)."""

    at: datetime
    label: str
    level: str = "info"


def timeline(*, title: str, moments: Sequence[Moment], chart_id: str = "timeline") -> str:
    """Events as dots on a time axis from the first to the last, the ends labelled in UTC."""
    height = 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_attr(chart_id)}" class="chart timeline" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_attr(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="40" y2="40"/>',
    ]
    if moments:
        first = min(m.at for m in moments)
        last = max(m.at for m in moments)
        span = (last - first).total_seconds() or 1.0
        plot_w = WIDTH - LEFT - RIGHT
        for m in sorted(moments, key=lambda m: m.at):
            x = LEFT + plot_w * (m.at - first).total_seconds() / span
            parts.append(
                f'<circle class="event level-{_attr(m.level)}" cx="{_num(x)}" cy="40" r="5" '
                f'data-at="{_attr(m.at.isoformat())}"><title>'
                f"{escape(m.at.strftime('%Y-%m-%d %H:%M:%S'))} {escape(m.label)}</title></circle>"
            )
        for x, moment, anchor in ((LEFT, first, "start"), (WIDTH - RIGHT, last, "end")):
            parts.append(
                f'<text class="tick" x="{x}" y="70" text-anchor="{anchor}">'
                f"{escape(moment.strftime('%Y-%m-%d %H:%M:%S'))} UTC</text>"
            )
    else:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="70" text-anchor="middle">no events</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
