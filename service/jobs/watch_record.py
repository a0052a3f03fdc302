"""Recording what a watcher tick observed: statuses, events, adoptions, lost jobs, stalls.

Jobs are written in chunks of ``WRITE_CHUNK``, each in its own savepoint, so one job that cannot
be recorded is logged and retried on the next tick while the others are kept.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from service.db import session_scope
from service.jobs.costs import PricingContext
from service.jobs.lost import mark_missing, mark_seen
from service.jobs.models import LAUNCH_UNKNOWN, LAUNCHING, Job
from service.jobs.service import add_note, apply_observation
from service.jobs.watch_poll import Observed, TickReport, Watched
from service.openai import FineTuningJob, FineTuningJobEvent
from service.settings import Settings

log = logging.getLogger(__name__)

WRITE_CHUNK = 100


def record(
    engine: Engine,
    *,
    settings: Settings,
    watched: list[Watched],
    observed: Observed,
    report: TickReport,
    now: datetime,
) -> None:
    """Write what a tick observed, each job in its own savepoint; one bad job is skipped."""
    work: list[tuple[str, FineTuningJob | None, list[FineTuningJobEvent] | None]] = []
    for w in watched:
        seen = observed.jobs.get(w.openai_job_id)
        events = observed.events.get(w.openai_job_id)
        if (
            events is not None
            or (seen is not None and (seen.status != w.status or w.missing_checks))
            or w.openai_job_id in observed.missing
        ):
            work.append((w.id, seen, events))
    work += [(launch_id, seen, None) for launch_id, seen in observed.adopted.items()]
    for start in range(0, len(work), WRITE_CHUNK):
        with session_scope(engine) as session:
            pricing = PricingContext(session)
            for job_id, seen, events in work[start : start + WRITE_CHUNK]:
                try:
                    with session.begin_nested():
                        job = session.exec(
                            select(Job).where(Job.id == job_id).with_for_update()
                        ).first()
                        if job is None:
                            continue
                        if (
                            job_id in observed.adopted
                            and job.openai_job_id is None
                            and seen is not None
                        ):
                            add_note(
                                session,
                                job,
                                f"OpenAI job {seen.id} found by this launch's id",
                                at=now,
                            )
                        if seen is None and job.openai_job_id in observed.missing:
                            if mark_missing(
                                session,
                                job,
                                pricing=pricing,
                                now=now,
                                checks=settings.watch_lost_after_checks,
                                after=settings.watch_lost_after_seconds,
                            ):
                                report.lost += 1
                            continue
                        if seen is not None:
                            mark_seen(session, job)
                        if seen is None:
                            # Events only (a finished job's last events): no status to apply.
                            assert events is not None and job.openai_job_id is not None
                            seen = _as_seen(job)
                        outcome = apply_observation(
                            session, job, seen, pricing=pricing, events=events, now=now
                        )
                except Exception:
                    report.errors += 1
                    log.exception("job watcher: recording job %s failed; retried next tick", job_id)
                    continue
                if outcome == "finished":
                    report.finished += 1
                elif outcome == "updated":
                    report.updated += 1
    for launch_id in observed.not_found:
        with session_scope(engine) as session:
            job = session.get(Job, launch_id)
            if job is None or job.openai_job_id is not None or job.status != LAUNCHING:
                continue
            job.status, job.updated_at = LAUNCH_UNKNOWN, now
            job.error = {
                "code": "launch_outcome_unknown",
                "param": None,
                "message": "the launch stopped before OpenAI confirmed a job, and none "
                "carries its launch id; repeat it with the same Idempotency-Key to try again",
            }
            add_note(
                session,
                job,
                "Launch stalled and OpenAI has no job with its launch id",
                level="warning",
                at=now,
            )
            report.updated += 1


def _as_seen(job: Job) -> FineTuningJob:
    """The job as last recorded: stores fetched events without pretending anything changed."""
    created = job.openai_created_at or job.created_at
    return FineTuningJob(
        id=job.openai_job_id or "",
        created_at=int(created.timestamp()),
        status=job.status,
        model=job.model,
        trained_tokens=job.trained_tokens,
        fine_tuned_model=job.fine_tuned_model,
        finished_at=None if job.finished_at is None else int(job.finished_at.timestamp()),
    )
