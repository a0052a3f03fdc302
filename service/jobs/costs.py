"""What a job costs: actual from trained tokens at the price in force when it was created.

The same rule feeds job records, budgets and the finance report, so they always agree:
a job's spend is its actual cost when known, otherwise its estimate, and a job that never
trained (failed, or cancelled before it ran) costs nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import ColumnElement, Table, case, literal
from sqlmodel import Session

from pricing.errors import PricingError
from pricing.money import cost_of_tokens
from service.jobs.models import LAUNCH_FAILED, LAUNCH_UNKNOWN, RATECARD_FINAL_STATES, Job
from service.prices.service import Reference, load_reference

log = logging.getLogger(__name__)

Basis = Literal["actual", "estimated", "none"]


@dataclass(frozen=True)
class ActualCost:
    cost_usd: Decimal | None
    price_version: str | None
    note: str  # why it is what it is, for the job's timeline


class PricingContext:
    """The price reference, read at most once per unit of work (a watcher tick)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._reference: Reference | None = None

    @property
    def reference(self) -> Reference:
        if self._reference is None:
            self._reference = load_reference(self._session)
        return self._reference


def actual_cost(job: Job, pricing: PricingContext) -> ActualCost:
    """trained_tokens x the training price (with overrides) in force on the job's created date."""
    if job.trained_tokens is None:
        if job.status == "failed":
            return ActualCost(
                Decimal(0), None, "failed without training tokens: OpenAI does not bill it"
            )
        if job.status == "cancelled" and not job.seen_running:
            return ActualCost(
                Decimal(0), None, "cancelled before training started: nothing to bill"
            )
        return ActualCost(
            None, None, "OpenAI reported no trained_tokens; the actual cost is unknown"
        )
    created = job.openai_created_at or job.created_at
    day = created.date()
    try:
        reference = pricing.reference
        resolved = reference.catalogue.resolve(job.model, as_of=day)
        quote = reference.book.quote(resolved.id, as_of=day, overrides=reference.overrides)
        price = quote.require("usd_per_1m_training_tokens")
    except PricingError as exc:
        log.warning("job %s: no training price for %s on %s: %s", job.id, job.model, day, exc)
        return ActualCost(None, None, f"actual cost unknown: {exc}")
    cost = cost_of_tokens(job.trained_tokens, price)
    return ActualCost(
        cost,
        quote.version,
        f"{job.trained_tokens:,} trained tokens at ${price} per 1M "
        f"(price version {quote.version}, {quote.source_of('usd_per_1m_training_tokens')})",
    )


def spend_of(job: Job) -> tuple[Decimal, Basis]:
    """The amount a job counts for in budgets and reports, and what that amount rests on."""
    if job.status in (LAUNCH_FAILED, LAUNCH_UNKNOWN):
        return Decimal(0), "none"
    if job.status in RATECARD_FINAL_STATES and job.actual_cost_usd is None:
        # OpenAI no longer shows it and never reported trained tokens: no evidence of a bill.
        return Decimal(0), "none"
    if job.actual_cost_usd is not None:
        return job.actual_cost_usd, "actual"
    if job.estimated_cost_usd is not None:
        return job.estimated_cost_usd, "estimated"
    return Decimal(0), "none"


def spend_basis_sql(jobs: Table) -> ColumnElement[str]:
    """:func:`spend_of`'s basis as a SQL expression over the jobs table (same rule, same order)."""
    c = jobs.c
    return case(
        (c.status.in_([LAUNCH_FAILED, LAUNCH_UNKNOWN]), literal("none")),
        (c.actual_micros.is_not(None), literal("actual")),
        (c.status.in_(sorted(RATECARD_FINAL_STATES)), literal("none")),
        (c.estimated_micros.is_not(None), literal("estimated")),
        else_=literal("none"),
    )


def cost_difference(job: Job) -> Decimal | None:
    """Actual minus estimate: positive when the job cost more than estimated."""
    if job.actual_cost_usd is None or job.estimated_cost_usd is None:
        return None
    return job.actual_cost_usd - job.estimated_cost_usd
