"""Finding, adopting and recording the end of a launch whose OpenAI job may or may not exist.

OpenAI offers no idempotency key for job creation, so every launch carries its ratecard id in
the job's metadata; a launch whose create has an unknown outcome is reconciled by listing jobs
with that id, never by creating again blindly.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from pricing.errors import PricingError
from service.db import session_scope
from service.errors import ServiceError
from service.jobs.costs import PricingContext
from service.jobs.errors import from_openai
from service.jobs.gateway import OpenAIGateway
from service.jobs.models import LAUNCH_UNKNOWN, LAUNCHING, Job
from service.jobs.schemas import JobOut
from service.jobs.service import (
    LAUNCH_METADATA_KEY,
    add_note,
    apply_observation,
    find_job,
    to_out,
)
from service.openai import FineTuningJob, OpenAIError
from service.settings import Settings
from service.types import utcnow

log = logging.getLogger(__name__)


def find_launched(gateway: OpenAIGateway, launch_id: str) -> FineTuningJob | None:
    """The OpenAI job carrying this launch id in its metadata, if any (the oldest if several)."""
    try:
        page = gateway.run(
            lambda client: client.list_jobs(metadata={LAUNCH_METADATA_KEY: launch_id}, limit=10)
        )
    except OpenAIError as exc:
        raise from_openai(exc, doing="looking for the job of an unconfirmed launch") from exc
    if len(page.data) > 1:
        log.error(
            "launch %s has %d OpenAI jobs (%s); adopting the oldest",
            launch_id,
            len(page.data),
            ", ".join(j.id for j in page.data),
        )
    return page.data[-1] if page.data else None


def adopt(engine: Engine, *, job_id: str, seen: FineTuningJob, how: str) -> JobOut:
    with session_scope(engine) as session:
        job = find_job(session, ref=job_id, lock=True)
        if job.openai_job_id is None:
            add_note(session, job, f"OpenAI job {seen.id} {how}")
            log.info("launch %s adopted OpenAI job %s (%s)", job_id, seen.id, how)
        apply_observation(session, job, seen, pricing=PricingContext(session))
        session.flush()
        return to_out(session, job)


def _is_stale(job: Job, settings: Settings) -> bool:
    return utcnow() - job.updated_at > timedelta(seconds=settings.launch_stale_seconds)


def replay(
    engine: Engine, *, gateway: OpenAIGateway, settings: Settings, job_id: str
) -> JobOut | None:
    """The earlier launch with this key, or None when it must run again (nothing upstream)."""
    with session_scope(engine) as session:
        job = find_job(session, ref=job_id)
        if job.openai_job_id is not None or (
            job.status == LAUNCHING and not _is_stale(job, settings)
        ):
            return to_out(session, job)
        previous = job.status
    if previous in (LAUNCH_UNKNOWN, LAUNCHING):
        found = find_launched(gateway, job_id)
        if found is not None:
            return adopt(
                engine,
                job_id=job_id,
                seen=found,
                how="found by its launch id on a repeated request",
            )
    # Nothing upstream: claim the launch for this request (a concurrent repeat loses the race and
    # gets the record as it stands).
    now = utcnow()
    with session_scope(engine) as session:
        claimed = (
            session.connection()
            .execute(
                update(Job)
                .where(
                    col(Job.id) == job_id,
                    col(Job.status) == previous,
                    col(Job.openai_job_id).is_(None),
                )
                .values(status=LAUNCHING, error=None, updated_at=now, created_at=now)
            )
            .rowcount
        )
        if claimed != 1:
            return to_out(session, find_job(session, ref=job_id))
        add_note(
            session,
            find_job(session, ref=job_id),
            f"Launch retried with the same Idempotency-Key (was {previous})",
        )
    return None


def mark_ended(engine: Engine, job_id: str, status: str, error: dict[str, Any]) -> None:
    """Record the launch's end without a job; never touches a launch that did get an OpenAI job."""
    try:
        with session_scope(engine) as session:
            session.connection().execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.openai_job_id).is_(None))
                .values(status=status, error=error, updated_at=utcnow())
            )
            job = session.get(Job, job_id)
            if job is not None:
                add_note(session, job, f"{status}: {error.get('message')}", level="error")
    except Exception:
        log.exception("launch %s: could not record %s", job_id, status)


def error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ServiceError):
        return {
            "code": exc.extra.get("code") or type(exc).__name__,
            "message": exc.detail,
            "param": exc.extra.get("param"),
        }
    if isinstance(exc, PricingError):
        return {"code": type(exc).__name__, "message": str(exc), "param": None}
    return {
        "code": "internal_error",
        "message": "the launch stopped on an unexpected error; it has been logged",
        "param": None,
    }
