"""One watcher tick's conversation with OpenAI: list, retrieve, fetch events, reconcile.

Nothing here touches the database: the tick loads what is watched, :func:`poll` finds out what
OpenAI says about it (at most ``CONCURRENT_REQUESTS`` requests at a time) and
:mod:`service.jobs.watch_record` writes it down.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from service.jobs.models import LAUNCHING
from service.jobs.service import LAUNCH_METADATA_KEY, is_finished
from service.openai import (
    FineTuningJob,
    FineTuningJobEvent,
    OpenAIClient,
    OpenAIError,
    OpenAINotFound,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_LIST_PAGES = 1_000
MAX_EVENT_PAGES = 10
CONCURRENT_REQUESTS = 8

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
class Watched:
    id: str
    openai_job_id: str
    status: str
    created: datetime | None
    last_event_id: str | None
    events_pending: bool
    events_fetched_at: datetime | None
    missing_checks: int = 0


@dataclass(frozen=True)
class Unconfirmed:
    id: str
    status: str


@dataclass
class Observed:
    jobs: dict[str, FineTuningJob] = field(default_factory=dict)  # by OpenAI id
    events: dict[str, list[FineTuningJobEvent]] = field(
        default_factory=dict
    )  # by OpenAI id, newest first
    adopted: dict[str, FineTuningJob] = field(default_factory=dict)  # by launch id
    not_found: list[str] = field(default_factory=list)  # stale launches OpenAI has no job for
    missing: set[str] = field(default_factory=set)  # OpenAI ids of watched jobs it answered 404


async def poll(
    client: OpenAIClient,
    watched: list[Watched],
    unconfirmed: list[Unconfirmed],
    report: TickReport,
    *,
    events_per_tick: int,
) -> Observed:
    observed = Observed()
    limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def bounded(work: Awaitable[T]) -> T:
        async with limit:
            return await work

    active = {w.openai_job_id: w for w in watched if not is_finished(w.status)}
    uncovered = await _walk_list(client, active, observed, report)
    if uncovered is None:
        return observed  # the list failed: retrieving every job one by one would be a storm
    await asyncio.gather(
        *(bounded(_retrieve(client, job_id, observed, report)) for job_id in uncovered)
    )

    budget = events_per_tick
    wanted = sorted(
        _event_candidates(watched, observed),
        key=lambda w: (
            not (w.events_pending or _changed(w, observed)),
            w.events_fetched_at or datetime.min.replace(tzinfo=UTC),
        ),
    )[:budget]
    await asyncio.gather(*(bounded(_fetch_events(client, w, observed, report)) for w in wanted))
    await asyncio.gather(*(bounded(_reconcile(client, u, observed, report)) for u in unconfirmed))
    return observed


async def _walk_list(
    client: OpenAIClient,
    active: dict[str, Watched],
    observed: Observed,
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
            log.warning("job watcher: listing jobs failed (%s); skipping this tick's polling", exc)
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
    client: OpenAIClient, job_id: str, observed: Observed, report: TickReport
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


def _changed(w: Watched, observed: Observed) -> bool:
    seen = observed.jobs.get(w.openai_job_id)
    return seen is not None and seen.status != w.status


def _event_candidates(watched: Iterable[Watched], observed: Observed) -> list[Watched]:
    result = []
    for w in watched:
        if w.openai_job_id in observed.missing:
            continue  # its events would be a 404 too
        seen = observed.jobs.get(w.openai_job_id)
        status = seen.status if seen is not None else w.status
        if w.events_pending or _changed(w, observed) or status == "running":
            result.append(w)
    return result


async def _fetch_events(
    client: OpenAIClient, w: Watched, observed: Observed, report: TickReport
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
    client: OpenAIClient, launch: Unconfirmed, observed: Observed, report: TickReport
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
