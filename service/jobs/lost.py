"""Jobs OpenAI no longer shows: counted misses, the lost state, and an admin's close or forget."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from service.alerts.events import JOB_FINISHED, publish_event
from service.auth.service import Principal
from service.errors import Conflict
from service.jobs.costs import PricingContext, actual_cost
from service.jobs.models import CLOSED, LOST, RATECARD_FINAL_STATES, Job
from service.jobs.schemas import CloseIn, JobOut
from service.jobs.service import add_note, find_job, is_finished, to_out
from service.types import utcnow

log = logging.getLogger(__name__)


def mark_missing(
    session: Session, job: Job, *, pricing: PricingContext, now: datetime, checks: int, after: float
) -> bool:
    """OpenAI answered 404 for the job once more; True when that made it lost.

    A job is lost after ``checks`` misses in a row that span at least ``after`` seconds: one
    miss may be a replica of OpenAI that lags, many over minutes mean the job is gone (a crash
    recovered against another organisation, a deleted project). Lost is final: the job is no
    longer polled, it counts as spend only if OpenAI had reported trained tokens, and the
    alert goes out in this transaction.
    """
    if is_finished(job.status):
        return False
    job.missing_checks += 1
    job.missing_since = job.missing_since or now
    job.updated_at = now
    session.add(job)
    if job.missing_checks < checks or (now - job.missing_since).total_seconds() < after:
        return False
    since = job.missing_since.isoformat(timespec="seconds")
    message = f"OpenAI no longer shows this job ({job.missing_checks} checks since {since})"
    previous, job.status = job.status, LOST
    job.error = {"code": "openai_job_missing", "message": message, "param": None}
    cost = actual_cost(job, pricing) if job.trained_tokens is not None else None
    if cost is not None:
        job.actual_cost_usd, job.actual_price_version = cost.cost_usd, cost.price_version
    add_note(session, job, f"Lost: {message}; no longer polled", level="error", at=now)
    session.flush()
    publish_event(
        session,
        kind=JOB_FINISHED,
        subject=job.id,
        dedupe_key=f"job.finished:{job.id}:{LOST}",
        payload=to_out(session, job).model_dump(mode="json"),
    )
    log.warning("job %s (%s): %s -> lost: %s", job.id, job.openai_job_id, previous, message)
    return True


def mark_seen(session: Session, job: Job) -> None:
    """OpenAI shows the job again: the misses were not in a row."""
    if job.missing_checks or job.missing_since is not None:
        job.missing_checks, job.missing_since = 0, None
        session.add(job)


def _require_lost(job: Job, *, doing: str, allowed: frozenset[str]) -> None:
    if job.status not in allowed:
        raise Conflict(
            f"job {job.id} is {job.status}: only a job OpenAI no longer shows "
            f"({' or '.join(sorted(allowed))}) can be {doing}",
            code="job_not_lost",
            job_status=job.status,
        )


def close_job(session: Session, *, ref: str, body: CloseIn, principal: Principal) -> JobOut:
    """An admin closes a lost job: final, with who and why, in the timeline and the error."""
    job = find_job(session, ref=ref, lock=True)
    _require_lost(job, doing="closed", allowed=frozenset({LOST}))
    now = utcnow()
    job.status, job.updated_at, job.finished_at = CLOSED, now, job.finished_at or now
    job.error = {
        "code": "closed_by_admin",
        "message": f"closed by {principal.name}: {body.reason}",
        "param": None,
    }
    add_note(session, job, f"Closed by {principal.name}: {body.reason}", level="warning", at=now)
    session.add(job)
    session.flush()
    log.info("job %s closed by %s: %s", job.id, principal.name, body.reason)
    return to_out(session, job)


def forget_job(session: Session, *, ref: str, principal: Principal) -> None:
    """An admin deletes a lost or closed job and its timeline (reports no longer list it)."""
    job = find_job(session, ref=ref, lock=True)
    _require_lost(job, doing="forgotten", allowed=RATECARD_FINAL_STATES)
    # Its timeline goes with it (job_events' foreign key cascades, on SQLite too).
    session.delete(job)
    session.flush()
    log.info(
        "job %s (%s, %s) forgotten by %s", job.id, job.openai_job_id, job.status, principal.name
    )
