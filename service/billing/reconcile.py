"""OpenAI's bill beside ratecard's figures, per day and line, with the likely cause of each gap.

The comparison is made on the finest unit both sides share, ``(day, model, kind, component)``
(ratecard's usage carries no OpenAI project), then rolled up to the groups asked for. Causes:

- ``unmapped_line_item``: the line item could not be mapped to a model and kind.
- ``model_without_price``: ratecard saw the traffic but has no price for it that day.
- ``traffic_not_seen``: OpenAI billed more tokens than ratecard saw (unreported traffic).
- ``traffic_not_billed``: ratecard saw tokens OpenAI did not bill.
- ``price_version_disagrees``: same tokens, and OpenAI's unit price is another version's price.
- ``missing_discount``: same tokens, billed below ratecard's price (a discount it does not know).
- ``price_disagrees``: same tokens, billed above ratecard's price and matching no version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from pricing.money import ONE_MILLION, format_usd
from service.billing.computed import Computed, Key, computed_figures
from service.billing.lineitems import Mapping, split_line_item
from service.billing.models import NO_PROJECT, CostLine
from service.billing.schemas import (
    Cause,
    GroupBy,
    ReconciliationReport,
    ReconciliationRow,
    UnmappedLineItem,
)
from service.errors import InvalidInput
from service.prices.service import Reference, load_reference

DEFAULT_THRESHOLD_PCT = Decimal(1)
CENT = Decimal("0.01")
MAX_DAYS = 366
UNATTRIBUTED = "(unattributed)"


@dataclass
class Unit:
    """One comparison cell: (day, model, kind, component) or an unmapped line."""

    day: date
    model: str
    line_item: str
    projects: dict[str, Decimal] = field(default_factory=dict)
    billed: Decimal = Decimal(0)
    billed_quantity: Decimal | None = Decimal(0)
    computed: Computed = field(default_factory=Computed)
    mapping: Mapping | None = None
    causes: list[Cause] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    currency: str = "usd"


def _label(key: Key) -> str:
    _, model, kind, component, fine_tuned = key
    prefix = "ft-" if fine_tuned else ""
    what = component.replace("_", " ")
    if kind not in ("inference", "training"):
        what = f"{kind} {what}"
    return f"{prefix}{model}, {what}"


def _lines(session: Session, start: date, end: date) -> list[CostLine]:
    query = select(CostLine).where(col(CostLine.day) >= start, col(CostLine.day) < end)
    return list(session.exec(query).all())


def _units(lines: Iterable[CostLine], computed: dict[Key, Computed]) -> list[Unit]:
    units: dict[tuple[object, ...], Unit] = {}
    for line in lines:
        if line.model is None or line.kind is None or line.component is None:
            key: tuple[object, ...] = (line.day, "?", line.line_item, line.currency)
            unit = units.setdefault(
                key, Unit(line.day, split_line_item(line.line_item)[0] or "?", line.line_item)
            )
            unit.mapping = Mapping(None, None, None, unmapped_reason="unmapped")
            unit.causes = ["unmapped_line_item"]
        elif line.currency != "usd":
            key = (line.day, line.model, line.line_item, line.currency)
            unit = units.setdefault(key, Unit(line.day, line.model, line.line_item))
            unit.notes = [f"billed in {line.currency.upper()}; ratecard prices are in USD"]
        else:
            mapped: Key = (line.day, line.model, line.kind, line.component, line.fine_tuned)
            key = mapped
            unit = units.setdefault(key, Unit(line.day, line.model, _label(mapped)))
            unit.mapping = Mapping(line.model, line.kind, line.component, line.fine_tuned)
        unit.currency = line.currency
        unit.billed += line.amount
        project = line.project_id or NO_PROJECT
        unit.projects[project] = unit.projects.get(project, Decimal(0)) + line.amount
        if line.quantity is None or unit.billed_quantity is None:
            unit.billed_quantity = None
        else:
            unit.billed_quantity += line.quantity
    for ckey, figures in computed.items():
        if ckey not in units:
            unit = units.setdefault(ckey, Unit(ckey[0], ckey[1], _label(ckey)))
            unit.billed_quantity = None if figures.quantity == 0 else Decimal(0)
            unit.mapping = Mapping(ckey[1], ckey[2], ckey[3], ckey[4])
        units[ckey].computed = figures
    return sorted(units.values(), key=lambda u: (u.day, u.model, u.line_item))


def _pct(difference: Decimal, billed: Decimal) -> Decimal | None:
    return None if billed == 0 else difference * 100 / billed


def _beyond(difference: Decimal, billed: Decimal, threshold_pct: Decimal) -> bool:
    if abs(difference) < CENT:
        return False
    pct = _pct(difference, billed)
    return pct is None or abs(pct) > threshold_pct


def _other_version(
    reference: Reference, unit: Unit, unit_price: Decimal, in_force: set[str]
) -> str | None:
    mapping = unit.mapping
    if mapping is None or mapping.model is None or mapping.price_field is None:
        return None
    for version in reference.book.versions:
        prices = version.prices_for(mapping.model)
        price = prices.get(mapping.price_field) if prices else None
        if version.version not in in_force and price is not None and price == unit_price:
            return version.version
    return None


def diagnose(unit: Unit, reference: Reference, threshold_pct: Decimal) -> None:
    """Set the unit's causes when its difference is beyond the threshold."""
    if unit.causes or unit.currency != "usd":
        return
    figures = unit.computed
    if figures.amount is None:
        unit.causes.append("model_without_price")
        unit.notes.extend(sorted(set(figures.problems)))
        return
    difference = unit.billed - figures.amount
    if not _beyond(difference, unit.billed, threshold_pct):
        return
    billed_q = unit.billed_quantity
    if figures.quantity == 0 and unit.billed > 0:
        unit.causes.append("traffic_not_seen")
        unit.notes.append("OpenAI billed traffic ratecard has no usage or job for")
        return
    if billed_q is not None and billed_q != figures.quantity:
        if billed_q > figures.quantity:
            unit.causes.append("traffic_not_seen")
            unit.notes.append(f"OpenAI billed {billed_q:,}, ratecard saw {figures.quantity:,}")
        else:
            unit.causes.append("traffic_not_billed")
            unit.notes.append(f"ratecard saw {figures.quantity:,}, OpenAI billed {billed_q:,}")
        return
    if unit.billed == 0:
        unit.causes.append("traffic_not_billed")
        return
    unit_price = unit.billed * ONE_MILLION / figures.quantity
    other = _other_version(reference, unit, unit_price, figures.price_versions)
    if other is not None:
        unit.causes.append("price_version_disagrees")
        unit.notes.append(
            f"OpenAI billed ${format_usd(unit_price)} per 1M, the price of version {other}; "
            f"ratecard used {', '.join(sorted(figures.price_versions))}"
        )
    elif difference < 0:
        unit.causes.append("missing_discount")
        unit.notes.append(
            f"OpenAI billed ${format_usd(unit_price)} per 1M, "
            f"{format_usd(-difference * 100 / figures.amount)}% below ratecard's price: "
            "a discount ratecard does not know (a contract price or a batch/flex tier)"
        )
    else:
        unit.causes.append("price_disagrees")
        unit.notes.append(f"OpenAI billed ${format_usd(unit_price)} per 1M tokens")


@dataclass
class _Total:
    billed: Decimal = Decimal(0)
    computed: Decimal | None = Decimal(0)
    billed_quantity: Decimal | None = Decimal(0)
    computed_quantity: int = 0
    causes: list[Cause] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    currency: str = "usd"

    def add(self, billed: Decimal, unit: Unit, *, share: bool) -> None:
        """Add a unit; ``share`` adds only its billed part (a project split of one unit)."""
        self.billed += billed
        self.currency = unit.currency
        computed = Decimal(0) if share else unit.computed.amount
        if computed is None or self.computed is None:
            self.computed = None
        else:
            self.computed += computed
        if not share:
            self.computed_quantity += unit.computed.quantity
            if unit.billed_quantity is None or self.billed_quantity is None:
                self.billed_quantity = None
            else:
                self.billed_quantity += unit.billed_quantity
        for cause in unit.causes:
            if cause not in self.causes:
                self.causes.append(cause)
        self.notes.extend(n for n in unit.notes if n not in self.notes)

    def row(self, group: dict[str, str], threshold_pct: Decimal) -> ReconciliationRow:
        difference = None if self.computed is None else self.billed - self.computed
        pct = None if difference is None else _pct(difference, self.billed)
        flagged = bool(self.causes) and (
            difference is None or _beyond(difference, self.billed, threshold_pct)
        )
        return ReconciliationRow(
            group=group,
            currency=self.currency,
            billed_usd=format_usd(self.billed),
            computed_usd=None if self.computed is None else format_usd(self.computed),
            difference_usd=None if difference is None else format_usd(difference),
            difference_pct=None if pct is None else f"{pct.quantize(CENT)}",
            billed_quantity=None if self.billed_quantity is None else f"{self.billed_quantity}",
            computed_quantity=str(self.computed_quantity),
            flagged=flagged,
            causes=self.causes if flagged else [],
            notes=self.notes[:10] if flagged else [],
        )


def _group(unit: Unit, project: str, group_by: list[GroupBy]) -> tuple[tuple[str, str], ...]:
    values = {
        "day": unit.day.isoformat(),
        "month": unit.day.strftime("%Y-%m"),
        "project": project,
        "model": unit.model,
        "line_item": unit.line_item,
    }
    return tuple((g, values[g]) for g in group_by)


def _attribution(unit: Unit) -> tuple[str, list[tuple[str, Decimal]]]:
    """The project the computed figure goes to, and the other projects' billed shares.

    Ratecard's figures carry no project: they go to the project OpenAI billed the unit to when
    there is exactly one; otherwise to "(unattributed)", beside each project's billed share.
    """
    if len(unit.projects) == 1:
        return next(iter(unit.projects)) or UNATTRIBUTED, []
    if not unit.projects:
        return UNATTRIBUTED, []
    return UNATTRIBUTED, [(p or UNATTRIBUTED, a) for p, a in sorted(unit.projects.items())]


def reconcile(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    group_by: list[GroupBy],
    threshold_pct: Decimal = DEFAULT_THRESHOLD_PCT,
) -> ReconciliationReport:
    """Days ``date_from`` to ``date_to`` inclusive (UTC), rolled up by ``group_by``."""
    if date_from > date_to:
        raise InvalidInput(f"`from` ({date_from}) is after `to` ({date_to})", code="bad_range")
    if (date_to - date_from).days >= MAX_DAYS:
        raise InvalidInput(f"a reconciliation covers at most {MAX_DAYS} days", code="bad_range")
    if not group_by or len(set(group_by)) != len(group_by):
        raise InvalidInput("group_by: name each of day, month, project, model, line_item once")
    end = date_to + timedelta(days=1)
    reference = load_reference(session)
    computed = computed_figures(session, reference=reference, start=date_from, end=end)
    units = _units(_lines(session, date_from, end), computed)
    groups: dict[tuple[tuple[str, str], ...], _Total] = {}
    total = _Total()
    unmapped: dict[str, UnmappedLineItem] = {}
    for unit in units:
        diagnose(unit, reference, threshold_pct)
        total.add(unit.billed, unit, share=False)
        home, shares = _attribution(unit)
        if shares and "project" in group_by:
            for project, amount in shares:
                groups.setdefault(_group(unit, project, group_by), _Total()).add(
                    amount, unit, share=True
                )
            groups.setdefault(_group(unit, home, group_by), _Total()).add(
                Decimal(0), unit, share=False
            )
        else:
            groups.setdefault(_group(unit, home, group_by), _Total()).add(
                unit.billed, unit, share=False
            )
        if "unmapped_line_item" in unit.causes:
            seen = unmapped.get(unit.line_item)
            amount = unit.billed + (Decimal(seen.billed_usd) if seen else Decimal(0))
            unmapped[unit.line_item] = UnmappedLineItem(
                line_item=unit.line_item,
                reason="no mapping to a ratecard model and kind",
                billed_usd=format_usd(amount),
            )
    return ReconciliationReport(
        **{"from": date_from, "to": date_to},
        group_by=group_by,
        threshold_pct=f"{threshold_pct}",
        rows=[groups[k].row(dict(k), threshold_pct) for k in sorted(groups)],
        totals=total.row({"total": "total"}, threshold_pct),
        unmapped=sorted(unmapped.values(), key=lambda u: u.line_item),
    )
