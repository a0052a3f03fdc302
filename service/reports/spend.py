"""Spend by month, team, model or kind: estimated, actual and billed side by side, per kind.

- **Training**: the training-spend report (service.reports.service.training_spend): jobs
  created in the range, actual where OpenAI reported the trained tokens, the launch estimate
  otherwise.
- **Inference**: what ratecard's usage costs, the figure the bill reconciliation prices
  (service.billing.computed): reported usage events and the imported Usage API combined per day
  and model by the import's rule (the larger figure, never the sum), at the price in force each
  day. Nothing estimates inference ahead of use (a saved estimate is a plan, not a forecast of
  this traffic), so its estimate is null, never zero. Usage carries no team: `(no team)`.
- **Billed**: the imported Costs API's USD line items of each kind (service.billing): training
  by the day billed, per month, model or kind (OpenAI bills training per model and day, not per
  team); inference per month, model (`ft-<base>` for fine-tuned traffic, as OpenAI bills it),
  `(no team)` and kind. Inference is every tier: Batch, flex and priority usage is priced at its
  own tier on the actual side, and its line items count as billed inference beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from sqlmodel import Session, col, select

from pricing.money import format_usd
from service.billing.computed import usage_figures
from service.billing.lineitems import split_line_item
from service.billing.models import CostLine
from service.billing.training import catalogue_id
from service.errors import InvalidInput
from service.prices.service import Reference, load_reference
from service.reports.schemas import (
    KindSpendReport,
    KindSpendRow,
    KindSpendTotals,
    SpendKind,
    SpendRow,
)
from service.reports.service import NO_TEAM, training_spend

GroupBy = Literal["month", "team", "model", "kind"]
KINDS: tuple[SpendKind, ...] = ("training", "inference")
Key = tuple[str, SpendKind]  # (group, kind)
# The bill's kinds of line item (service.billing.lineitems) that make up each kind of spend.
LINE_KINDS: dict[SpendKind, tuple[str, ...]] = {
    "training": ("training",),
    "inference": ("inference", "batch", "flex", "priority"),
}


@dataclass
class _Cell:
    estimated: Decimal | None = None  # None: not estimated
    actual: Decimal | None = Decimal(0)  # None: unknown (traffic without a price)
    billed: Decimal | None = None  # None: nothing imported for it
    unpriced: set[str] = field(default_factory=set)
    jobs: SpendRow | None = None  # the training-spend row behind a training cell

    def row(self, group: str, kind: SpendKind) -> KindSpendRow:
        jobs = self.jobs
        counts: dict[str, int | None] = {
            name: (getattr(jobs, name) if jobs else 0) if kind == "training" else None
            for name in ("jobs", "jobs_actual", "jobs_estimated", "jobs_unpriced")
        }
        return KindSpendRow(
            group=group,
            kind=kind,
            estimated_usd=_usd(self.estimated),
            actual_usd=_usd(self.actual),
            billed_usd=_usd(self.billed),
            unpriced=sorted(self.unpriced),
            basis=jobs.basis if jobs else None,
            **counts,
        )


def _usd(amount: Decimal | None) -> str | None:
    return None if amount is None else format_usd(amount)


def _cell(cells: dict[Key, _Cell], key: Key) -> _Cell:
    found = cells.get(key)
    if found is None:
        training = key[1] == "training"
        found = cells[key] = _Cell(estimated=Decimal(0) if training else None)
    return found


def _training(
    session: Session, cells: dict[Key, _Cell], *, date_from: date, date_to: date, group_by: GroupBy
) -> None:
    report = training_spend(
        session, date_from=date_from, date_to=date_to,
        group_by="month" if group_by == "kind" else group_by,
        billed=False,  # this report reads the bill itself, every kind alike (_billed)
    )  # fmt: skip
    rows = report.rows if group_by != "kind" else ([report.totals] if report.totals.jobs else [])
    for row in rows:
        cell = _cell(cells, ("training" if group_by == "kind" else row.group, "training"))
        cell.estimated = Decimal(row.estimated_usd)
        cell.actual = Decimal(row.actual_usd)
        cell.jobs = row


def _inference(
    session: Session,
    reference: Reference,
    cells: dict[Key, _Cell],
    *,
    date_from: date,
    date_to: date,
    group_by: GroupBy,
) -> None:
    figures = usage_figures(
        session, reference=reference, start=date_from, end=date_to + timedelta(days=1)
    )
    for (day, model, _, _, fine_tuned), computed in figures.items():
        label = {
            "month": day.strftime("%Y-%m"),
            "team": NO_TEAM,
            "model": f"ft-{model}" if fine_tuned else model,
            "kind": "inference",
        }[group_by]
        cell = _cell(cells, (label, "inference"))
        if computed.amount is None:
            cell.actual = None
            cell.unpriced |= computed.names or {model}
        elif cell.actual is not None:
            cell.actual += computed.amount


def _billed_lines(
    session: Session, *, date_from: date, date_to: date, kinds: tuple[SpendKind, ...]
) -> list[CostLine]:
    line_kinds = [line_kind for kind in kinds for line_kind in LINE_KINDS[kind]]
    query = select(CostLine).where(
        col(CostLine.kind).in_(line_kinds),
        col(CostLine.day) >= date_from,
        col(CostLine.day) <= date_to,
        CostLine.currency == "usd",  # ratecard's figures are USD; another currency is not added
    )
    return list(session.exec(query).all())


def _model_of(line: CostLine) -> str:
    model = line.model or split_line_item(line.line_item)[0]
    inference = line.kind in LINE_KINDS["inference"]
    return f"ft-{model}" if inference and line.fine_tuned and line.model else model


def _billed(
    lines: list[CostLine],
    reference: Reference,
    cells: dict[Key, _Cell],
    *,
    date_to: date,
    group_by: GroupBy,
) -> None:
    # Jobs are grouped by the model they were launched with; OpenAI bills the catalogue's id.
    launched = {
        catalogue_id(reference, group, date_to): group
        for group, kind in list(cells)
        if kind == "training" and group_by == "model"
    }
    for line in lines:
        kind: SpendKind = "training" if line.kind == "training" else "inference"
        if group_by == "team" and kind == "training":
            continue  # billed per model and day: no team to give it to
        if group_by == "month":
            label = line.day.strftime("%Y-%m")
        elif group_by == "team":
            label = NO_TEAM
        elif group_by == "model":
            label = _model_of(line)
            label = launched.get(label, label) if kind == "training" else label
        else:
            label = kind
        cell = _cell(cells, (label, kind))
        cell.billed = (cell.billed or Decimal(0)) + line.amount


def _total(amounts: list[Decimal | None]) -> Decimal:
    return sum((a for a in amounts if a is not None), Decimal(0))


def spend_by_kind(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    group_by: GroupBy,
    kind: SpendKind | None = None,
) -> KindSpendReport:
    """Days ``date_from`` to ``date_to`` inclusive (UTC): a row per (group, kind) with any spend,
    sorted by group then kind; ``kind`` keeps one kind only."""
    if date_from > date_to:
        raise InvalidInput(f"`from` ({date_from}) is after `to` ({date_to})", code="bad_range")
    if date_to >= date.max:
        # The range ends at the start of the day after `to`, which does not exist.
        raise InvalidInput(f"`to` must be before {date.max}", code="bad_range")
    kinds = KINDS if kind is None else (kind,)
    reference = load_reference(session)
    cells: dict[Key, _Cell] = {}
    if "training" in kinds:
        _training(session, cells, date_from=date_from, date_to=date_to, group_by=group_by)
    if "inference" in kinds:
        _inference(
            session, reference, cells, date_from=date_from, date_to=date_to, group_by=group_by
        )
    lines = _billed_lines(session, date_from=date_from, date_to=date_to, kinds=kinds)
    _billed(lines, reference, cells, date_to=date_to, group_by=group_by)
    # Sorted by group, training before inference within one (the kind view: just the kinds).
    keys = sorted(cells, key=lambda k: ("" if group_by == "kind" else k[0], KINDS.index(k[1])))
    rows = [cells[k].row(*k) for k in keys]
    actuals = [cells[k].actual for k in keys]
    totals = KindSpendTotals(
        # Only training is estimated: an inference-only view has no estimate at all.
        estimated_usd=_usd(_total([c.estimated for c in cells.values()]))
        if "training" in kinds
        else None,
        actual_usd=None if None in actuals else _usd(_total(actuals)),
        billed_usd=_usd(_total([line.amount for line in lines])) if lines else None,
    )
    return KindSpendReport(
        **{"from": date_from, "to": date_to},
        group_by=group_by,
        kind=kind,
        currency="USD",
        rows=rows,
        totals=totals,
    )
