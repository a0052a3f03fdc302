"""What ratecard computes for a range of days: usage (reported and imported) and watched jobs.

Usage is split as the bill splits it: Batch, flex and priority traffic, cached input and cache
writes (from OpenAI's Usage API, see :func:`split_tokens`) each on their own line, at their own
price. Cache writes have a price of their own from GPT-5.6 on; where a model has none (every
model before GPT-5.6), OpenAI bills them as uncached input, and so do the pricing library's
estimates: they are priced, and reconciled, on the input line of their tier.

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

from pricing.catalogue import ResolvedModel
from pricing.errors import PricingError
from pricing.money import cost_of_tokens
from pricing.price_fields import TIER_ALIASES, price_field
from pricing.prices import PriceQuote
from service.jobs.models import Job
from service.prices.service import Reference
from service.usage.models import UsageBucket
from service.usage_import.store import ImportedDay, imported_daily_usage

Key = tuple[date, str, str, str, bool]  # (day, model id, kind, component, fine_tuned)
Split = dict[tuple[str, str], int]  # (kind, component) -> tokens
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


def _kind(row: ImportedDay) -> str:
    """The bill's kind for an imported group: Batch first, then the service tier it ran in."""
    if row.batch:
        return "batch"
    tier = TIER_ALIASES.get(row.service_tier, row.service_tier)
    return tier if tier in ("flex", "priority") else "inference"


def split_tokens(prompt: int, completion: int, imported: list[ImportedDay]) -> Split:
    """Tokens per (kind, component) of one model and day, both sources counted once.

    Clients' reports and OpenAI's Usage API measure the same requests, so the import's rule
    applies (service.usage_import.combine: the larger figure, never the sum), here per day and
    model, the unit the bill is reconciled in. Reported usage carries no tier and no cache split,
    and, like the pools, holds no Batch traffic: it is compared with the imported non-Batch
    total, and only what it has beyond that is added, as standard uncached tokens. The Batch,
    flex, priority and cached-input parts are a split of the imported figure, each priced on its
    own line as OpenAI bills it. ``input_tokens`` counts the cached and the cache-write tokens
    (the Usage API's definition), so the uncached input is what is left of it after both.
    """
    tokens: Split = {}

    def add(kind: str, component: str, count: int) -> None:
        if count > 0:
            tokens[(kind, component)] = tokens.get((kind, component), 0) + count

    seen_in = seen_out = 0
    for row in imported:
        kind = _kind(row)
        cached = min(row.input_cached_tokens, row.input_tokens)
        written = min(row.input_cache_write_tokens, row.input_tokens - cached)
        add(kind, "input", row.input_tokens - cached - written)
        add(kind, "cached_input", cached)
        add(kind, "cache_write", written)
        add(kind, "output", row.output_tokens)
        if kind != "batch":
            seen_in, seen_out = seen_in + row.input_tokens, seen_out + row.output_tokens
    add("inference", "input", prompt - seen_in)
    add("inference", "output", completion - seen_out)
    return tokens


def _usage_tokens(session: Session, start: date, end: date) -> dict[tuple[int, str], Split]:
    """Tokens per (day number, model key), split as the bill splits them (see split_tokens)."""
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
    clients = {(int(d), str(m)): (int(p or 0), int(c or 0)) for d, m, p, c in reported}
    imported = imported_daily_usage(session, start_ts=_ts(start), end_ts=_ts(end))
    return {
        key: split_tokens(*clients.get(key, (0, 0)), imported.get(key, []))
        for key in clients.keys() | imported.keys()
    }


def _usage(
    session: Session, reference: Reference, start: date, end: date, out: dict[Key, Computed]
) -> None:
    for (number, name), split in sorted(_usage_tokens(session, start, end).items()):
        day = datetime.fromtimestamp(int(number) * DAY, UTC).date()
        try:
            resolved = reference.catalogue.resolve(name, as_of=day)
        except PricingError as exc:
            for kind, component in split:
                entry = out.setdefault((day, name, kind, component, False), Computed())
                entry.add(None, 0, None)
                entry.problems.append(str(exc))
            continue
        quote: PriceQuote | None = None
        try:
            quote = reference.book.quote(resolved.id, as_of=day, overrides=reference.overrides)
        except PricingError as exc:
            unpriced = exc  # every line of the day is unknown, never zero
        for (kind, component), tokens in sorted(split.items()):
            tier = "standard" if kind == "inference" else kind
            if (
                component == "cache_write"
                and quote is not None
                and not _has_price(quote, component, tier, resolved)
            ):
                component = "input"  # no cache-write price (before GPT-5.6): billed as input
            key = (day, resolved.id, kind, component, resolved.fine_tuned)
            entry = out.setdefault(key, Computed())
            entry.names.add(name)
            field_name = price_field(component, tier=tier, fine_tuned=resolved.fine_tuned)
            try:
                if quote is None:
                    raise unpriced
                price = quote.require(field_name)
            except PricingError as exc:
                entry.add(None, tokens, None)  # unknown, never zero
                entry.problems.append(str(exc))
                continue
            entry.add(cost_of_tokens(tokens, price), tokens, quote.version)


def _has_price(quote: PriceQuote, component: str, tier: str, model: ResolvedModel) -> bool:
    """Whether the day's prices name one for the component."""
    name = price_field(component, tier=tier, fine_tuned=model.fine_tuned)
    return quote.prices.get(name) is not None


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
