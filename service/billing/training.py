"""OpenAI's billed training figure beside ratecard's, for the spend report and the job views.

OpenAI bills training per day and base model (``ft-<model> training``), not per job, so a
job's billed figure is known only where it can be told apart: the training line of the day
it finished, for its model, when it is the only job of that model finishing that day, or when
a line's quantity is exactly its trained tokens.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from pricing.errors import PricingError
from pricing.money import format_usd
from service.billing.models import CostLine
from service.jobs.models import Job
from service.prices.service import Reference, load_reference
from service.reports.schemas import SpendRow

TRAINING = "training"
# Ratecard's figures are US dollars: a line billed in another currency is not added to them.
USD = "usd"


def catalogue_id(reference: Reference, name: str, day: date) -> str | None:
    """The catalogue's id for a model name on a day, as OpenAI's bill names the model; None for
    a name the catalogue does not know."""
    try:
        return reference.catalogue.resolve(name, as_of=day).id
    except PricingError:
        return None


@dataclass(frozen=True)
class Finished:
    """What attribution needs of a job: which model, when it finished, what it trained."""

    id: str
    model: str
    finished_at: datetime | None
    trained_tokens: int | None


def billed_for_job(session: Session, *, job: Job) -> str | None:
    """The job's billed training cost where it can be attributed; None otherwise."""
    finished = Finished(job.id, job.model, job.finished_at, job.trained_tokens)
    return billed_for_jobs(session, jobs=[finished]).get(job.id)


def billed_for_jobs(session: Session, *, jobs: Sequence[Finished]) -> dict[str, str | None]:
    """Each job's billed training cost where it can be attributed (None otherwise), in a fixed
    number of queries however many jobs: the spend report by job asks for every job at once."""
    out: dict[str, str | None] = {job.id: None for job in jobs}
    days = {
        job.finished_at.date()
        for job in jobs
        if job.finished_at is not None and job.trained_tokens is not None
    }
    if not days:
        return out
    first, last = min(days), max(days)
    # The days' training lines first: without imported costs this is the only read.
    lines: dict[tuple[date, str | None], list[CostLine]] = defaultdict(list)
    for line in session.exec(
        select(CostLine).where(
            CostLine.kind == TRAINING,
            CostLine.currency == USD,
            col(CostLine.day) >= first,
            col(CostLine.day) <= last,
        )
    ):
        lines[(line.day, line.model)].append(line)
    if not lines:
        return out
    billed_days = {day for day, _ in lines}
    siblings = _jobs_finishing(session, first=first, last=last)
    reference = load_reference(session)
    models: dict[tuple[str, date], str | None] = {}
    for job in jobs:
        if job.finished_at is None or job.trained_tokens is None:
            continue
        day = job.finished_at.date()
        if day not in billed_days:
            continue
        if (job.model, day) not in models:
            models[(job.model, day)] = catalogue_id(reference, job.model, day)
        model = models[(job.model, day)]
        of_model = lines.get((day, model), []) if model is not None else []
        if not of_model:
            continue
        exact = [line for line in of_model if line.quantity == job.trained_tokens]
        if len(exact) == 1:
            out[job.id] = format_usd(exact[0].amount)
        elif siblings[(job.model, day)] == 1:  # the only job of its model billed that day
            out[job.id] = format_usd(sum((line.amount for line in of_model), Decimal(0)))
    return out


def _jobs_finishing(session: Session, *, first: date, last: date) -> Counter[tuple[str, date]]:
    """Jobs that trained, per launched model and UTC day they finished, ``first`` to ``last``."""
    start = datetime.combine(first, time.min, UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, UTC)
    rows = session.exec(
        select(Job.model, Job.finished_at).where(
            col(Job.trained_tokens).is_not(None),
            col(Job.finished_at) >= start,
            col(Job.finished_at) < end,
        )
    )
    return Counter((model, finished.date()) for model, finished in rows if finished is not None)


def billed_training(
    session: Session, *, date_from: date, date_to: date, group_by: str, labels: Iterable[str]
) -> dict[str, Decimal]:
    """Billed training per spend-report group (month or model) over the range, inclusive."""
    if group_by not in ("month", "model"):
        return {}
    lines = session.exec(
        select(CostLine).where(
            CostLine.kind == TRAINING,
            CostLine.currency == USD,
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
    reference = load_reference(session)
    for label in labels:  # the report groups by the name jobs were launched with
        model = catalogue_id(reference, label, date_to)
        if model is not None and model in by_model:
            out[label] = by_model.pop(model)
    return out


def billed_total(session: Session, *, date_from: date, date_to: date) -> Decimal | None:
    lines = session.exec(
        select(CostLine).where(
            CostLine.kind == TRAINING,
            CostLine.currency == USD,
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
        start = datetime.combine(date_from, time.min, UTC)
        end = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
        # The report's jobs are those created in the range: read what attribution needs of them.
        found = session.exec(
            select(Job.id, Job.model, Job.finished_at, Job.trained_tokens).where(
                col(Job.created_at) >= start, col(Job.created_at) < end
            )
        )
        per_job = billed_for_jobs(session, jobs=[Finished(*row) for row in found])
        for row in rows:
            row.billed_usd = per_job.get(row.group)
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
