"""OpenAI's billed training figure beside ratecard's, for the spend report and the job views.

OpenAI bills training per day and base model (``ft-<model> training``), not per job, so a
job's billed figure is known only where it can be told apart: the training line of the day
it finished, for its model, when it is the only job of that model finishing that day, or when
a line's quantity is exactly its trained tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from pricing.errors import PricingError
from pricing.money import format_usd
from service.billing.models import CostLine
from service.jobs.models import Job
from service.prices.service import load_reference
from service.reports.schemas import SpendRow

TRAINING = "training"


def _catalogue_id(session: Session, name: str, day: date) -> str | None:
    try:
        return load_reference(session).catalogue.resolve(name, as_of=day).id
    except PricingError:
        return None


def billed_for_job(session: Session, *, job: Job) -> str | None:
    """The job's billed training cost where it can be attributed; None otherwise."""
    if job.finished_at is None or job.trained_tokens is None:
        return None
    day = job.finished_at.date()
    # The day's training lines first: without imported costs a job view costs one indexed read.
    training = session.exec(
        select(CostLine).where(CostLine.day == day, CostLine.kind == TRAINING)
    ).all()
    if not training:
        return None
    model = _catalogue_id(session, job.model, day)
    lines = [line for line in training if model is not None and line.model == model]
    if not lines:
        return None
    exact = [line for line in lines if line.quantity == job.trained_tokens]
    if len(exact) == 1:
        return format_usd(exact[0].amount)
    start = job.finished_at.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    siblings = session.exec(
        select(func.count())
        .select_from(Job)
        .where(
            col(Job.trained_tokens).is_not(None),
            col(Job.finished_at) >= start,
            col(Job.finished_at) < end,
            Job.model == job.model,
        )
    ).one()
    if siblings != 1:
        return None
    return format_usd(sum((line.amount for line in lines), Decimal(0)))


def billed_training(
    session: Session, *, date_from: date, date_to: date, group_by: str, labels: Iterable[str]
) -> dict[str, Decimal]:
    """Billed training per spend-report group (month or model) over the range, inclusive."""
    if group_by not in ("month", "model"):
        return {}
    lines = session.exec(
        select(CostLine).where(
            CostLine.kind == TRAINING,
            col(CostLine.day) >= date_from,
            col(CostLine.day) <= date_to,
        )
    ).all()
    out: dict[str, Decimal] = {}
    if group_by == "month":
        for line in lines:
            key = line.day.strftime("%Y-%m")
            out[key] = out.get(key, Decimal(0)) + line.amount
        return out
    by_model: dict[str, Decimal] = {}
    for line in lines:
        by_model[line.model or ""] = by_model.get(line.model or "", Decimal(0)) + line.amount
    for label in labels:  # the report groups by the name jobs were launched with
        model = _catalogue_id(session, label, date_to)
        if model is not None and model in by_model:
            out[label] = by_model.pop(model)
    return out


def billed_total(session: Session, *, date_from: date, date_to: date) -> Decimal | None:
    lines = session.exec(
        select(CostLine).where(
            CostLine.kind == TRAINING,
            col(CostLine.day) >= date_from,
            col(CostLine.day) <= date_to,
        )
    ).all()
    return sum((line.amount for line in lines), Decimal(0)) if lines else None


def add_billed(
    session: Session,
    *,
    rows: list[SpendRow],
    totals: SpendRow,
    date_from: date,
    date_to: date,
    group_by: str,
) -> None:
    """Set ``billed_usd`` on the spend report's rows where OpenAI's figure is known."""
    if group_by == "job":
        for row in rows:
            job = session.get(Job, row.group)
            row.billed_usd = None if job is None else billed_for_job(session, job=job)
    else:
        billed = billed_training(
            session, date_from=date_from, date_to=date_to, group_by=group_by,
            labels=[r.group for r in rows],
        )  # fmt: skip
        for row in rows:
            amount = billed.get(row.group)
            row.billed_usd = None if amount is None else format_usd(amount)
    total = billed_total(session, date_from=date_from, date_to=date_to)
    totals.billed_usd = None if total is None else format_usd(total)
