"""The job watcher: polls OpenAI for every unfinished job and records what changed.

One tick:

1. Take (or renew) the lease. Only the holder polls, so replicas on one PostgreSQL database
   never poll twice; a holder that crashes stops renewing and is replaced once the lease lapses.
2. Walk ``GET /fine_tuning/jobs`` page by page (100 per page, newest first) until every watched
   job has been seen, pages run out, or the pages have gone past the oldest watched job; then
   retrieve individually only the jobs the list did not cover. 1,000 watched jobs cost 10 list
   calls, not 1,000 retrieves.
3. Fetch new events (down to the last event id already stored) for jobs whose status changed
   and for running jobs, at most ``watch_events_per_tick`` fetches, least recently fetched first.
4. Record each job in its own savepoint: a terminal status stores trained tokens, the fine-tuned
   model and any error, prices the actual cost and publishes ``job.finished`` in the same
   transaction. One bad job or response is logged and skipped; nothing stops the loop.

The work is split by job: this module holds the lease, loads what is watched and schedules
ticks; :mod:`service.jobs.watch_poll` talks to OpenAI and :mod:`service.jobs.watch_record`
writes down what it said.

State lives in the database only, so a restarted watcher simply carries on: a job that finished
while nothing was running is noticed on the next tick.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from service.db import session_scope
from service.jobs.gateway import OpenAIGateway
from service.jobs.models import LAUNCH_UNKNOWN, LAUNCHING, Job
from service.jobs.service import FINISHED_STATUSES, is_finished
from service.jobs.watch_poll import TickReport, Unconfirmed, Watched, poll
from service.jobs.watch_record import record
from service.leases import release_lease, take_lease
from service.settings import Settings
from service.types import utcnow

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from fastapi import FastAPI

log = logging.getLogger(__name__)

LEASE_NAME = "job-watcher"
UNCONFIRMED_LAUNCH_WINDOW = timedelta(hours=24)


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class JobWatcher:
    """Call :meth:`tick` directly (tests, ``bench/``) or :meth:`start` an APScheduler job."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        gateway: OpenAIGateway | None = None,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if settings.watcher_lease_seconds <= settings.watch_interval_seconds:
            log.warning(
                "watcher_lease_seconds (%s) should exceed watch_interval_seconds (%s), or the "
                "lease lapses between ticks",
                settings.watcher_lease_seconds,
                settings.watch_interval_seconds,
            )
        self.engine = engine
        self.settings = settings
        self.gateway = gateway or OpenAIGateway(settings)
        self.holder = holder or default_holder()
        self.clock = clock
        self._holding = False
        self._scheduler: BackgroundScheduler | None = None

    # ------------------------------------------------------------------------------ lease

    def acquire_lease(self) -> bool:
        """Take or renew the lease; True while this watcher holds it."""
        taken = take_lease(
            self.engine,
            name=LEASE_NAME,
            holder=self.holder,
            now=self.clock(),
            seconds=self.settings.watcher_lease_seconds,
        )
        if taken != self._holding:
            log.info("job watcher %s %s the lease", self.holder, "took" if taken else "lost")
        self._holding = taken
        return taken

    def release_lease(self) -> None:
        """Let another watcher take over at once (graceful stop)."""
        release_lease(self.engine, name=LEASE_NAME, holder=self.holder)
        self._holding = False

    # ------------------------------------------------------------------------------- tick

    def tick(self) -> TickReport:
        """One polling round. Never raises: failures are logged, counted and retried next tick."""
        report = TickReport()
        try:
            if not self.acquire_lease():
                return report
            report.lease_held = True
            watched, unconfirmed = self._load()
            report.watched = sum(1 for w in watched if not is_finished(w.status))
            if not watched and not unconfirmed:
                return report
            observed = self.gateway.run(
                lambda client: poll(
                    client,
                    watched,
                    unconfirmed,
                    report,
                    events_per_tick=self.settings.watch_events_per_tick,
                )
            )
            if not self.acquire_lease():
                # Someone else holds the lease now (this tick outlived it): they decide, not us.
                log.warning(
                    "job watcher %s lost its lease during a tick; discarding the tick's results",
                    self.holder,
                )
                return report
            record(
                self.engine,
                settings=self.settings,
                watched=watched,
                observed=observed,
                report=report,
                now=self.clock(),
            )
        except Exception:
            report.errors += 1
            log.exception("job watcher tick failed; the next tick tries again")
        if report.updated or report.finished or report.lost or report.errors:
            log.info(
                "job watcher tick: %d watched, %d OpenAI requests (%d list, %d retrieve, "
                "%d events), %d updated, %d finished, %d lost, %d errors",
                report.watched,
                report.requests,
                report.list_calls,
                report.retrieve_calls,
                report.event_calls,
                report.updated,
                report.finished,
                report.lost,
                report.errors,
            )
        return report

    def _load(self) -> tuple[list[Watched], list[Unconfirmed]]:
        now = self.clock()
        stale = now - timedelta(seconds=self.settings.launch_stale_seconds)
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(Job).where(
                    col(Job.openai_job_id).is_not(None),
                    or_(
                        col(Job.status).not_in(FINISHED_STATUSES),
                        col(Job.events_pending).is_(True),
                    ),
                )
            ).all()
            watched = [
                Watched(
                    r.id,
                    r.openai_job_id or "",
                    r.status,
                    r.openai_created_at,
                    r.last_event_id,
                    r.events_pending,
                    r.events_fetched_at,
                    r.missing_checks,
                )
                for r in rows
            ]
            launches = session.exec(
                select(Job).where(
                    col(Job.openai_job_id).is_(None),
                    or_(
                        (col(Job.status) == LAUNCH_UNKNOWN)
                        & (col(Job.updated_at) > now - UNCONFIRMED_LAUNCH_WINDOW),
                        (col(Job.status) == LAUNCHING) & (col(Job.updated_at) < stale),
                    ),
                )
            ).all()
            unconfirmed = [Unconfirmed(r.id, r.status) for r in launches]
        return watched, unconfirmed

    # ------------------------------------------------------------------------- scheduling

    def start(self) -> None:
        """Tick now and then every ``watch_interval_seconds`` in a background thread."""
        from apscheduler.schedulers.background import BackgroundScheduler

        executor_log = logging.getLogger("apscheduler.executors.default")
        if executor_log.level == logging.NOTSET:
            # APScheduler logs two INFO lines per run; every few seconds that drowns the real news.
            executor_log.setLevel(logging.WARNING)
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.watch_interval_seconds,
            id="job-watcher",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "job watcher %s started: every %ss against %s",
            self.holder,
            self.settings.watch_interval_seconds,
            self.settings.openai_base_url,
        )

    def stop(self) -> None:
        """Wait for a running tick, stop, and hand the lease over."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        self.release_lease()
        log.info("job watcher %s stopped", self.holder)


def watcher_factory(app: FastAPI) -> JobWatcher | None:
    """The watcher ``ratecard serve`` runs, when enabled and OpenAI is configured."""
    settings: Settings = app.state.settings
    if not settings.run_watcher:
        return None
    if settings.openai_api_key is None:
        log.info("job watcher not started: RATECARD_OPENAI_API_KEY is not set")
        return None
    watcher = JobWatcher(engine=app.state.engine, settings=settings)
    app.state.job_watcher = watcher
    return watcher
