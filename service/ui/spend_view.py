"""The spend page's charts: one per kind, a bar per figure the kind has, groups along the axis.

Training has an estimate, an actual and (where imported) a billed figure; inference an actual
and a billed figure but no estimate, so it gets no estimated bar rather than a zero one. A group
whose inference actual is unknown (traffic without a price) is left out of the chart and named
under it: a bar of zero would say it cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from service.reports.schemas import KindSpendReport, KindSpendRow, SpendKind
from service.ui.charts import Series, bar_chart, hbar_chart

KINDS: tuple[SpendKind, ...] = ("training", "inference")


@dataclass(frozen=True)
class KindChart:
    kind: SpendKind
    svg: str
    uncharted: list[KindSpendRow]  # rows whose actual is unknown


def _amount(value: str | None) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


def _chart(report: KindSpendReport, kind: SpendKind) -> KindChart:
    rows = [r for r in report.rows if r.kind == kind]
    shown = [r for r in rows if r.actual_usd is not None]
    series = []
    if kind == "training":
        series.append(Series("estimated", [_amount(r.estimated_usd) for r in shown]))
    series.append(Series("actual", [_amount(r.actual_usd) for r in shown]))
    if any(r.billed_usd is not None for r in rows):
        # OpenAI's own figure, once its Costs API is imported (service/billing); a group
        # without a line of it was billed nothing.
        series.append(Series("billed", [_amount(r.billed_usd) for r in shown]))
    # Team and model names are long: horizontal bars name them in full.
    draw = hbar_chart if report.group_by in ("team", "model") else bar_chart
    svg = draw(
        title=f"{kind.capitalize()} spend by {report.group_by}, USD",
        categories=[r.group for r in shown],
        series=series,
        unit=" USD",
        chart_id=f"spend-chart-{kind}",
    )
    return KindChart(kind, svg, [r for r in rows if r.actual_usd is None])


def kind_charts(report: KindSpendReport) -> list[KindChart]:
    """A chart per kind the report shows (both unless filtered to one)."""
    kinds = KINDS if report.kind is None else (report.kind,)
    return [_chart(report, kind) for kind in kinds]
