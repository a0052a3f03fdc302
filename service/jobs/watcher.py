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

State lives in the database only, so a restarted watcher simply carries on: a job that finished
while nothing was running is noticed on the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import case, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from service.db import session_scope
from service.jobs.costs import PricingContext
from service.jobs.gateway import OpenAIGateway
from service.jobs.lost import mark_missing, mark_seen
from service.jobs.models import LAUNCH_UNKNOWN, LAUNCHING, Job, WatcherLease
from service.jobs.service import (
    FINISHED_STATUSES,
    LAUNCH_METADATA_KEY,
    add_note,
    apply_observation,
    is_finished,
)
from service.openai import (
    FineTuningJob,
    FineTuningJobEvent,
    OpenAIClient,
    OpenAIError,
    OpenAINotFound,
)
from service.settings import Settings
from service.types import utcnow

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from fastapi import FastAPI

log = logging.getLogger(__name__)

LEASE_NAME = "job-watcher"
PAGE_SIZE = 100
MAX_LIST_PAGES = 1_000
MAX_EVENT_PAGES = 10
CONCURRENT_REQUESTS = 8
WRITE_CHUNK = 100
UNCONFIRMED_LAUNCH_WINDOW = timedelta(hours=24)

T = TypeVar("T")


@dataclass
class TickReport:
    """What one tick did; the OpenAI request counts are logical requests (retries not counted)."""

    lease_held: bool = False
    watched: int = 0
    list_calls: int = 0
    retrieve_calls: int = 0
    event_calls: int = 0
    reconcile_calls: int = 0
    updated: int = 0
    finished: int = 0
    lost: int = 0
    errors: int = 0

    @property
    def requests(self) -> int:
        return self.list_calls + self.retrieve_calls + self.event_calls + self.reconcile_calls


@dataclass(frozen=True)
class _Watched:
    id: str
    openai_job_id: str
    status: str
    created: datetime | None
    last_event_id: str | None
    events_pending: bool
    events_fetched_at: datetime | None
    missing_checks: int = 0


@dataclass(frozen=True)
class _Unconfirmed:
    id: str
    status: str


@dataclass
class _Observed:
    jobs: dict[str, FineTuningJob] = field(default_factory=dict)  # by OpenAI id
    events: dict[str, list[FineTuningJobEvent]] = field(
        default_factory=dict
    )  # by OpenAI id, newest first
    adopted: dict[str, FineTuningJob] = field(default_factory=dict)  # by launch id
    not_found: list[str] = field(default_factory=list)  # stale launches OpenAI has no job for
    missing: set[str] = field(default_factory=set)  # OpenAI ids of watched jobs it answered 404


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
        """Take or renew the lease with one conditional UPDATE; True while this watcher holds it."""
        now = self.clock()
        expires = now + timedelta(seconds=self.settings.watcher_lease_seconds)
        lease = WatcherLease.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            taken = (
                conn.execute(
                    update(lease)
                    .where(
                        lease.c.name == LEASE_NAME,
                        or_(lease.c.holder == self.holder, lease.c.expires_at < now),
                    )
                    .values(
                        holder=self.holder,
                        expires_at=expires,
                        acquired_at=case(
                            (lease.c.holder == self.holder, lease.c.acquired_at), else_=now
                        ),
                    )
                ).rowcount
                == 1
            )
        if not taken and not self._lease_row_exists():
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(lease).values(
                            name=LEASE_NAME, holder=self.holder, expires_at=expires, acquired_at=now
                        )
                    )
                taken = True
            except IntegrityError:
                taken = False
        if taken != self._holding:
            log.info("job watcher %s %s the lease", self.holder, "took" if taken else "lost")
        self._holding = taken
        return taken

    def _lease_row_exists(self) -> bool:
        with session_scope(self.engine) as session:
            return session.get(WatcherLease, LEASE_NAME) is not None

    def release_lease(self) -> None:
        """Let another watcher take over at once (graceful stop)."""
        lease = WatcherLease.__table__  # type: ignore[attr-defined]
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(lease)
                    .where(lease.c.name == LEASE_NAME, lease.c.holder == self.holder)
                    .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
                )
        except Exception:
            log.exception(
                "job watcher %s could not release its lease; it lapses on its own", self.holder
            )
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
                lambda client: self._poll(client, watched, unconfirmed, report)
            )
            if not self.acquire_lease():
                # Someone else holds the lease now (this tick outlived it): they decide, not us.
                log.warning(
                    "job watcher %s lost its lease during a tick; discarding the tick's results",
                    self.holder,
                )
                return report
            self._record(watched, observed, report)
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

    def _load(self) -> tuple[list[_Watched], list[_Unconfirmed]]:
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
                _Watched(
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
            unconfirmed = [_Unconfirmed(r.id, r.status) for r in launches]
        return watched, unconfirmed

    async def _poll(
        self,
        client: OpenAIClient,
        watched: list[_Watched],
        unconfirmed: list[_Unconfirmed],
        report: TickReport,
    ) -> _Observed:
        observed = _Observed()
        limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

        async def bounded(work: Awaitable[T]) -> T:
            async with limit:
                return await work

        active = {w.openai_job_id: w for w in watched if not is_finished(w.status)}
        uncovered = await self._walk_list(client, active, observed, report)
        if uncovered is None:
            return observed  # the list failed: retrieving every job one by one would be a storm
        await asyncio.gather(
            *(bounded(self._retrieve(client, job_id, observed, report)) for job_id in uncovered)
        )

        budget = self.settings.watch_events_per_tick
        wanted = sorted(
            self._event_candidates(watched, observed),
            key=lambda w: (
                not (w.events_pending or self._changed(w, observed)),
                w.events_fetched_at or datetime.min.replace(tzinfo=UTC),
            ),
        )[:budget]
        await asyncio.gather(
            *(bounded(self._fetch_events(client, w, observed, report)) for w in wanted)
        )
        await asyncio.gather(
            *(bounded(self._reconcile(client, u, observed, report)) for u in unconfirmed)
        )
        return observed

    async def _walk_list(
        self,
        client: OpenAIClient,
        active: dict[str, _Watched],
        observed: _Observed,
        report: TickReport,
    ) -> set[str] | None:
        """Cover watched jobs from the list; returns the ones left, or None if listing failed."""
        uncovered = set(active)
        if not uncovered:
            return uncovered
        # Pages that cover nothing are still walked while fewer pages than the watched jobs need
        # have been read (other jobs may be interleaved); past that, a fruitless page ends the walk.
        needed_pages = math.ceil(len(active) / PAGE_SIZE)
        after: str | None = None
        for page_number in range(1, MAX_LIST_PAGES + 1):
            report.list_calls += 1
            try:
                page = await client.list_jobs(after=after, limit=PAGE_SIZE)
            except OpenAIError as exc:
                report.errors += 1
                log.warning(
                    "job watcher: listing jobs failed (%s); skipping this tick's polling", exc
                )
                return None
            hits = 0
            for job in page.data:
                if job.id in uncovered:
                    observed.jobs[job.id] = job
                    uncovered.discard(job.id)
                    hits += 1
            if not uncovered or not page.has_more or not page.data or page.last_id in (None, after):
                break
            if hits == 0 and page_number >= needed_pages:
                break
            # Newest first: past the oldest uncovered job's creation, no later page holds it.
            created = [active[j].created for j in uncovered]
            if all(c is not None for c in created):
                oldest = min(int(c.timestamp()) for c in created if c is not None)
                if page.data[-1].created_at < oldest:
                    break
            after = page.last_id
        return uncovered

    async def _retrieve(
        self, client: OpenAIClient, job_id: str, observed: _Observed, report: TickReport
    ) -> None:
        report.retrieve_calls += 1
        try:
            observed.jobs[job_id] = await client.retrieve_job(job_id)
        except OpenAINotFound:
            observed.missing.add(job_id)
            log.warning("job watcher: OpenAI no longer shows job %s", job_id)
        except OpenAIError as exc:
            report.errors += 1
            log.warning("job watcher: retrieving job %s failed: %s", job_id, exc)

    @staticmethod
    def _changed(w: _Watched, observed: _Observed) -> bool:
        seen = observed.jobs.get(w.openai_job_id)
        return seen is not None and seen.status != w.status

    def _event_candidates(self, watched: Iterable[_Watched], observed: _Observed) -> list[_Watched]:
        result = []
        for w in watched:
            if w.openai_job_id in observed.missing:
                continue  # its events would be a 404 too
            seen = observed.jobs.get(w.openai_job_id)
            status = seen.status if seen is not None else w.status
            if w.events_pending or self._changed(w, observed) or status == "running":
                result.append(w)
        return result

    async def _fetch_events(
        self, client: OpenAIClient, w: _Watched, observed: _Observed, report: TickReport
    ) -> None:
        collected: list[FineTuningJobEvent] = []
        after: str | None = None
        try:
            for _ in range(MAX_EVENT_PAGES):
                report.event_calls += 1
                page = await client.list_events(w.openai_job_id, after=after, limit=PAGE_SIZE)
                for event in page.data:
                    if event.id == w.last_event_id:
                        observed.events[w.openai_job_id] = collected
                        return
                    collected.append(event)
                if not page.has_more or page.last_id in (None, after):
                    break
                after = page.last_id
        except OpenAIError as exc:
            report.errors += 1
            log.warning("job watcher: events of %s failed: %s", w.openai_job_id, exc)
            return
        observed.events[w.openai_job_id] = collected

    async def _reconcile(
        self, client: OpenAIClient, launch: _Unconfirmed, observed: _Observed, report: TickReport
    ) -> None:
        report.reconcile_calls += 1
        try:
            page = await client.list_jobs(metadata={LAUNCH_METADATA_KEY: launch.id}, limit=10)
        except OpenAIError as exc:
            report.errors += 1
            log.warning("job watcher: reconciling launch %s failed: %s", launch.id, exc)
            return
        if page.data:
            observed.adopted[launch.id] = page.data[-1]  # the oldest, should a create have doubled
        elif launch.status == LAUNCHING:
            observed.not_found.append(launch.id)

    # ----------------------------------------------------------------------------- record

    def _record(self, watched: list[_Watched], observed: _Observed, report: TickReport) -> None:
        now = self.clock()
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
            with session_scope(self.engine) as session:
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
                                    checks=self.settings.watch_lost_after_checks,
                                    after=self.settings.watch_lost_after_seconds,
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
                        log.exception(
                            "job watcher: recording job %s failed; retried next tick", job_id
                        )
                        continue
                    if outcome == "finished":
                        report.finished += 1
                    elif outcome == "updated":
                        report.updated += 1
        for launch_id in observed.not_found:
            with session_scope(self.engine) as session:
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
