"""What ratecard computes for a range of days: usage (reported and imported) and watched jobs.

Each figure is keyed like a mapped cost line, ``(day, model, kind, component, fine_tuned)``, and
priced at the version in force on its own day (with the organisation's overrides), so a
price change mid-month splits exactly where OpenAI's bill splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from pricing.errors import PricingError
from pricing.money import cost_of_tokens
from pricing.price_fields import price_field
from service.jobs.models import Job
from service.prices.service import Reference
from service.usage.models import UsageBucket
from service.usage_import.store import imported_daily_tokens

Key = tuple[date, str, str, str, bool]  # (day, model id, kind, component, fine_tuned)
DAY = 86_400


@dataclass
class Computed:
    amount: Decimal | None = Decimal(0)  # None: ratecard has the traffic but no price for it
    quantity: int = 0
    price_versions: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # the model names ratecard saw

    def add(self, amount: Decimal | None, quantity: int, version: str | None) -> None:
        self.quantity += quantity
        if amount is None or self.amount is None:
            self.amount = None
        else:
            self.amount += amount
        if version:
            self.price_versions.add(version)


def _ts(day: date) -> int:
    return int(datetime.combine(day, time.min, UTC).timestamp())


def _usage_tokens(
    session: Session, start: date, end: date
) -> dict[tuple[int, str], tuple[int, int]]:
    """Prompt and completion tokens per (day number, model key), both sources counted once.

    Clients' reports and OpenAI's Usage API measure the same requests, so the import's rule
    applies (service.usage_import.combine: the larger figure, never the sum), here per day and
    model, the unit the bill is reconciled in. Batch traffic imported from OpenAI is left out,
    as in the pools: it is billed on its own line at Batch prices.
    """
    day_no = (col(UsageBucket.bucket) // DAY).label("day_no")
    reported = session.exec(
        select(
            day_no,
            UsageBucket.model,
            func.sum(UsageBucket.prompt_tokens),
            func.sum(UsageBucket.completion_tokens),
        )
        .where(col(UsageBucket.bucket) >= _ts(start), col(UsageBucket.bucket) < _ts(end))
        .group_by(day_no, UsageBucket.model)
    ).all()
    tokens = {(int(d), str(m)): (int(p or 0), int(c or 0)) for d, m, p, c in reported}
    for (day, model), (prompt, completion) in imported_daily_tokens(
        session, start_ts=_ts(start), end_ts=_ts(end)
    ).items():
        seen = tokens.get((day, model), (0, 0))
        tokens[(day, model)] = (max(seen[0], prompt), max(seen[1], completion))
    return tokens


def _usage(
    session: Session, reference: Reference, start: date, end: date, out: dict[Key, Computed]
) -> None:
    for (number, name), (prompt, completion) in sorted(_usage_tokens(session, start, end).items()):
        day = datetime.fromtimestamp(int(number) * DAY, UTC).date()
        try:
            resolved = reference.catalogue.resolve(name, as_of=day)
        except PricingError as exc:
            for component in ("input", "output"):
                entry = out.setdefault((day, name, "inference", component, False), Computed())
                entry.add(None, 0, None)
                entry.problems.append(str(exc))
            continue
        for component, tokens in (("input", int(prompt or 0)), ("output", int(completion or 0))):
            key = (day, resolved.id, "inference", component, resolved.fine_tuned)
            entry = out.setdefault(key, Computed())
            entry.names.add(name)
            field_name = price_field(component, fine_tuned=resolved.fine_tuned)
            try:
                quote = reference.book.quote(resolved.id, as_of=day, overrides=reference.overrides)
                price = quote.require(field_name)
            except PricingError as exc:
                entry.add(None, tokens, None)
                entry.problems.append(str(exc))
                continue
            entry.add(cost_of_tokens(tokens, price), tokens, quote.version)


def _jobs(
    session: Session, reference: Reference, start: date, end: date, out: dict[Key, Computed]
) -> None:
    """Trained tokens billed on the day the job finished, at ratecard's actual cost."""
    lo = datetime.combine(start, time.min, UTC)
    hi = datetime.combine(end, time.min, UTC)
    query = select(Job).where(
        col(Job.trained_tokens).is_not(None),
        col(Job.finished_at) >= lo,
        col(Job.finished_at) < hi,
    )
    for job in session.exec(query).all():
        assert job.finished_at is not None and job.trained_tokens is not None
        day = job.finished_at.date()
        try:
            model = reference.catalogue.resolve(job.model, as_of=day).id
        except PricingError:
            model = job.model
        entry = out.setdefault((day, model, "training", "training", False), Computed())
        entry.names.add(job.model)
        entry.add(job.actual_cost_usd, job.trained_tokens, job.actual_price_version)
        if job.actual_cost_usd is None:
            entry.problems.append(f"job {job.id}: no training price for {job.model}")


def computed_figures(
    session: Session, *, reference: Reference, start: date, end: date
) -> dict[Key, Computed]:
    """Ratecard's figures for ``[start, end)``."""
    out: dict[Key, Computed] = {}
    _usage(session, reference, start, end, out)
    _jobs(session, reference, start, end, out)
    return out


def usage_figures(
    session: Session, *, reference: Reference, start: date, end: date
) -> dict[Key, Computed]:
    """Ratecard's inference figures for ``[start, end)``, without the jobs: the spend report
    prices usage exactly as the reconciliation does, and reads its training from the jobs."""
    out: dict[Key, Computed] = {}
    _usage(session, reference, start, end, out)
    return out


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]
