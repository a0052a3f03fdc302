"""Job records: reading them, applying what OpenAI reports, watching and cancelling.

Every change OpenAI reports goes through :func:`apply_observation`, whoever saw it (the watcher,
a launch, a watch or a cancel request), so a terminal status is finalised the same way
everywhere: actual cost, difference to the estimate and the ``job.finished`` event, all in the
caller's transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pricing.money import format_usd
from service.alerts.events import JOB_FINISHED, publish_event
from service.auth.service import Principal
from service.db import session_scope
from service.errors import Conflict, InvalidInput, NotFound
from service.jobs.costs import PricingContext, actual_cost, cost_difference
from service.jobs.errors import from_openai
from service.jobs.gateway import OpenAIGateway
from service.jobs.models import LAUNCHING, LOST, RATECARD_FINAL_STATES, SOURCE_WATCH, Job, JobEvent
from service.jobs.schemas import JobErrorOut, JobEventOut, JobOut, WatchIn
from service.openai import (
    JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    FineTuningJob,
    FineTuningJobEvent,
    OpenAIError,
    OpenAINotFound,
    OpenAIRequestRejected,
)
from service.types import utcnow

log = logging.getLogger(__name__)

LAUNCH_METADATA_KEY = "ratecard_launch_id"
EVENTS_SHOWN = 50


def new_job_id() -> str:
    return "job_" + secrets.token_hex(10)


def from_epoch(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


FINISHED_STATUSES = TERMINAL_JOB_STATUSES | RATECARD_FINAL_STATES


def is_finished(status: str) -> bool:
    """OpenAI's terminal statuses, and ratecard's own: lost (OpenAI no longer shows it), closed."""
    return status in FINISHED_STATUSES


# ----------------------------------------------------------------------------------- reading


def _latest_events(
    session: Session, job_ids: Sequence[str], per_job: int = EVENTS_SHOWN
) -> dict[str, list[JobEventOut]]:
    if not job_ids:
        return {}
    t = JobEvent.__table__  # type: ignore[attr-defined]
    rank = (
        func.row_number()
        .over(partition_by=t.c.job_id, order_by=(t.c.created_at.desc(), t.c.id.desc()))
        .label("rank")
    )
    latest = (
        sa_select(t.c.id, t.c.job_id, t.c.created_at, t.c.level, t.c.message, rank)
        .where(t.c.job_id.in_(list(job_ids)))
        .subquery()
    )
    rows = session.connection().execute(
        sa_select(latest)
        .where(latest.c.rank <= per_job)
        .order_by(latest.c.job_id, latest.c.created_at, latest.c.id)
    )
    result: dict[str, list[JobEventOut]] = {}
    for row in rows:
        result.setdefault(row.job_id, []).append(
            JobEventOut(created_at=row.created_at, level=row.level, message=row.message)
        )
    return result


def to_out(session: Session, job: Job, events: list[JobEventOut] | None = None) -> JobOut:
    from service.billing.training import billed_for_job  # billing builds on jobs

    if events is None:
        events = _latest_events(session, [job.id]).get(job.id, [])
    difference = cost_difference(job)
    started = job.openai_created_at or job.created_at
    return JobOut(
        id=job.id,
        openai_job_id=job.openai_job_id,
        status=job.status,
        source=job.source,
        model=job.model,
        requested_model=job.requested_model,
        team=job.team,
        launched_by=job.launched_by,
        training_file=job.training_file,
        validation_file=job.validation_file,
        hyperparameters=job.hyperparameters,
        suffix=job.suffix,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        estimate=job.estimate,
        estimated_cost_usd=None
        if job.estimated_cost_usd is None
        else format_usd(job.estimated_cost_usd),
        actual_cost_usd=None if job.actual_cost_usd is None else format_usd(job.actual_cost_usd),
        actual_price_version=job.actual_price_version,
        cost_difference_usd=None if difference is None else format_usd(difference),
        billed_usd=billed_for_job(session, job=job),
        error=None
        if not job.error
        else JobErrorOut(
            code=job.error.get("code"),
            message=job.error.get("message"),
            param=job.error.get("param"),
        ),
        created_at=job.created_at,
        finished_at=job.finished_at,
        duration_seconds=None
        if job.finished_at is None
        else max(0.0, (job.finished_at - started).total_seconds()),
        events=events,
    )


def find_job(session: Session, *, ref: str, lock: bool = False) -> Job:
    """A job by ratecard id (job_...) or OpenAI id (ftjob-...)."""
    query = (
        select(Job).where(Job.id == ref)
        if ref.startswith("job_")
        else select(Job).where(Job.openai_job_id == ref)
    )
    if lock:
        query = query.with_for_update()
    job = session.exec(query).first()
    if job is None:
        raise NotFound(
            f"no job {ref!r}: give a ratecard id (job_...) or a watched OpenAI id (ftjob-...)"
        )
    return job


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    team: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[JobOut], str | None]:
    query = select(Job)
    if status:
        query = query.where(Job.status == status)
    if team:
        query = query.where(Job.team == team)
    if cursor:
        anchor = session.get(Job, cursor)
        if anchor is None:
            raise InvalidInput(f"unknown cursor {cursor!r}")
        query = query.where(
            (col(Job.created_at) < anchor.created_at)
            | ((col(Job.created_at) == anchor.created_at) & (col(Job.id) < anchor.id))
        )
    rows = list(
        session.exec(
            query.order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(limit + 1)
        ).all()
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    rows = rows[:limit]
    events = _latest_events(session, [r.id for r in rows])
    return [to_out(session, r, events.get(r.id, [])) for r in rows], next_cursor


# ----------------------------------------------------------------------------------- writing


def add_note(
    session: Session, job: Job, message: str, *, level: str = "info", at: datetime | None = None
) -> None:
    """ratecard's own line in the job's timeline."""
    # OpenAI stamps events in whole seconds: a note kept to the microsecond would sort after an
    # event of the same second that it caused. In whole seconds they tie, and the insert order
    # (the id) keeps cause before effect.
    session.add(
        JobEvent(
            job_id=job.id,
            openai_event_id=None,
            created_at=(at or utcnow()).replace(microsecond=0),
            level=level,
            message=message,
        )
    )


def _store_openai_events(session: Session, job: Job, events: Sequence[FineTuningJobEvent]) -> int:
    """Insert events not stored yet; ``events`` come newest first, as OpenAI lists them."""
    if not events:
        return 0
    ids = [e.id for e in events]
    known = set(
        session.exec(
            select(JobEvent.openai_event_id).where(
                JobEvent.job_id == job.id, col(JobEvent.openai_event_id).in_(ids)
            )
        ).all()
    )
    added = 0
    for event in reversed(events):
        if event.id in known:
            continue
        session.add(
            JobEvent(
                job_id=job.id,
                openai_event_id=event.id,
                created_at=from_epoch(event.created_at) or utcnow(),
                level=(event.level or "info")[:20],
                message=event.message or "",
            )
        )
        known.add(event.id)
        added += 1
    job.last_event_id = events[0].id
    return added


def _hyperparameters_of(seen: FineTuningJob) -> dict[str, Any] | None:
    if seen.hyperparameters is None:
        return None
    values = seen.hyperparameters.model_dump(exclude_none=True)
    return values or None


def apply_observation(
    session: Session,
    job: Job,
    seen: FineTuningJob,
    *,
    pricing: PricingContext,
    events: Sequence[FineTuningJobEvent] | None = None,
    now: datetime | None = None,
) -> str | None:
    """Record what OpenAI reported for the job; returns "finished", "updated" or None (no change).

    ``events`` are the job's newest events when they were fetched with this observation (None if
    not); a finished job still takes events, but its status and cost never change again.
    """
    now = now or utcnow()
    changed = False
    if job.openai_job_id is None:
        job.openai_job_id = seen.id
        changed = True
    if events is not None:
        changed |= _store_openai_events(session, job, events) > 0
        job.events_pending = False
        job.events_fetched_at = now
    if is_finished(job.status):
        if changed:
            job.updated_at = now
            session.add(job)
        return "updated" if changed else None
    fields: dict[str, Any] = {
        "model": seen.model or job.model,
        "openai_created_at": from_epoch(seen.created_at),
        "trained_tokens": seen.trained_tokens,
        "fine_tuned_model": seen.fine_tuned_model,
        "error": None
        if seen.failure is None
        else {
            "code": seen.failure.code,
            "message": seen.failure.message,
            "param": seen.failure.param,
        },
        "finished_at": from_epoch(seen.finished_at),
    }
    hyperparameters = _hyperparameters_of(seen)
    if hyperparameters is not None:
        fields["hyperparameters"] = {**job.hyperparameters, **hyperparameters}
    for name, value in fields.items():
        if getattr(job, name) != value:
            setattr(job, name, value)
            changed = True
    if seen.status == "running" and not job.seen_running:
        job.seen_running = True
        changed = True
    if seen.status != job.status:
        previous, job.status = job.status, seen.status
        changed = True
        if events is None:
            job.events_pending = True
        if seen.status not in JOB_STATUSES:
            log.warning(
                "job %s (%s): unrecognised status %r recorded; still watching",
                job.id,
                seen.id,
                seen.status,
            )
            add_note(
                session,
                job,
                f"OpenAI reports status {seen.status!r}, which ratecard does not know; "
                "recorded, and the job is still watched",
                level="warning",
                at=now,
            )
        else:
            log.info("job %s (%s): %s -> %s", job.id, seen.id, previous, seen.status)
    if not changed:
        return None
    job.updated_at = now
    session.add(job)
    if seen.is_terminal:
        finalize(session, job, pricing=pricing, now=now)
        return "finished"
    return "updated"


def finalize(session: Session, job: Job, *, pricing: PricingContext, now: datetime) -> None:
    """A terminal status: actual cost beside the estimate, and job.finished (same transaction)."""
    cost = actual_cost(job, pricing)
    job.actual_cost_usd, job.actual_price_version = cost.cost_usd, cost.price_version
    job.finished_at = job.finished_at or now
    parts = [f"Finished: {job.status}."]
    if cost.cost_usd is None:
        parts.append(cost.note + ".")
    else:
        parts.append(f"Actual cost ${format_usd(cost.cost_usd)} ({cost.note}).")
    if job.estimated_cost_usd is not None:
        parts.append(f"Estimated ${format_usd(job.estimated_cost_usd)}.")
    difference = cost_difference(job)
    if difference is not None:
        parts.append(f"Difference ${format_usd(difference)}.")
    add_note(
        session,
        job,
        " ".join(parts),
        level="info" if cost.cost_usd is not None else "warning",
        at=now,
    )
    session.add(job)
    session.flush()
    payload = to_out(session, job).model_dump(mode="json")
    publish_event(
        session,
        kind=JOB_FINISHED,
        subject=job.id,
        dedupe_key=f"job.finished:{job.id}:{job.status}",
        payload=payload,
    )
    log.info(
        "job %s finished %s: actual $%s, estimate $%s",
        job.id,
        job.status,
        None if cost.cost_usd is None else format_usd(cost.cost_usd),
        None if job.estimated_cost_usd is None else format_usd(job.estimated_cost_usd),
    )


# ------------------------------------------------------------------------------ watch, cancel


def watch_job(
    engine: Engine, *, gateway: OpenAIGateway, body: WatchIn, principal: Principal
) -> tuple[JobOut, bool]:
    """Watch a job launched elsewhere; (job, created). Watching it again returns the same record."""
    with session_scope(engine) as session:
        existing = session.exec(select(Job).where(Job.openai_job_id == body.openai_job_id)).first()
        if existing is not None:
            return to_out(session, existing), False
    try:
        seen = gateway.run(lambda client: client.retrieve_job(body.openai_job_id))
    except OpenAINotFound:
        raise NotFound(
            f"OpenAI has no fine-tuning job {body.openai_job_id} visible to ratecard's API key",
            code="openai_job_not_found",
        ) from None
    except OpenAIError as exc:
        raise from_openai(exc, doing="retrieving the job to watch") from exc
    try:
        with session_scope(engine) as session:
            return _record_watched(session, seen, body=body, principal=principal), True
    except IntegrityError:
        # Another request started watching the same job a moment ago: that record is the answer.
        with session_scope(engine) as session:
            return to_out(session, find_job(session, ref=body.openai_job_id)), False


def _record_watched(
    session: Session, seen: FineTuningJob, *, body: WatchIn, principal: Principal
) -> JobOut:
    who = body.launched_by or principal.name
    launch_id = (seen.metadata or {}).get(LAUNCH_METADATA_KEY)
    job = session.get(Job, launch_id) if launch_id else None
    if job is not None and job.openai_job_id is None:
        # A ratecard launch whose create outcome was unknown: this is its job.
        add_note(
            session,
            job,
            f"{seen.id} matched this launch by its launch id (watch requested by {who})",
        )
    else:
        created = from_epoch(seen.created_at) or utcnow()
        job = Job(
            id=new_job_id(),
            source=SOURCE_WATCH,
            status=seen.status,
            team=body.team,
            launched_by=who,
            launcher=principal.name,
            requested_model=seen.model,
            model=seen.model,
            training_file=seen.training_file,
            validation_file=seen.validation_file,
            hyperparameters={},
            created_at=created,
            openai_created_at=created,
            openai_job_id=seen.id,
            events_pending=True,
        )
        session.add(job)
        session.flush()
        add_note(
            session, job, f"Watching {seen.id}, launched outside ratecard (requested by {who})"
        )
    apply_observation(session, job, seen, pricing=PricingContext(session))
    session.flush()
    return to_out(session, job)


def cancel_job(engine: Engine, *, gateway: OpenAIGateway, ref: str, principal: Principal) -> JobOut:
    with session_scope(engine) as session:
        job = find_job(session, ref=ref)
        job_id, openai_id, status = job.id, job.openai_job_id, job.status
    if status == LOST:
        raise Conflict(
            f"job {job_id}: OpenAI no longer shows it, so it cannot be cancelled there; an admin "
            "can close it (POST /v1/jobs/{id}/close) or forget it (DELETE /v1/jobs/{id})",
            code="job_lost",
            job_status=status,
        )
    if is_finished(status):
        raise Conflict(
            f"job {job_id} already finished ({status})", code="already_finished", job_status=status
        )
    if openai_id is None:
        detail = (
            "the launch is still in progress; cancel once it has an OpenAI job id"
            if status == LAUNCHING
            else f"the launch never created an OpenAI job ({status})"
        )
        raise Conflict(f"job {job_id}: {detail}", code="not_launched")
    try:
        seen = gateway.run(lambda client: client.cancel_job(openai_id))
    except OpenAIRequestRejected as exc:
        # Typically "already completed": record the real state, then say why cancelling failed.
        _refresh(engine, gateway, job_id)
        raise Conflict(exc.message, code="cannot_cancel", openai_code=exc.code) from exc
    except OpenAIError as exc:
        raise from_openai(exc, doing="cancelling the job") from exc
    with session_scope(engine) as session:
        job = find_job(session, ref=job_id, lock=True)
        add_note(session, job, f"Cancel requested by {principal.name}")
        apply_observation(session, job, seen, pricing=PricingContext(session))
        session.flush()
        return to_out(session, job)


def _refresh(engine: Engine, gateway: OpenAIGateway, job_id: str) -> None:
    with session_scope(engine) as session:
        openai_id = find_job(session, ref=job_id).openai_job_id
    if openai_id is None:
        return
    try:
        seen = gateway.run(lambda client: client.retrieve_job(openai_id))
    except OpenAIError as exc:
        log.warning("job %s: refresh from OpenAI failed: %s", job_id, exc)
        return
    with session_scope(engine) as session:
        apply_observation(
            session, find_job(session, ref=job_id, lock=True), seen, pricing=PricingContext(session)
        )
