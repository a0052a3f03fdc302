"""The scheduled importer: exactly one replica imports at a time.

Replicas share the job watcher's lease table (one row per named lease): the importer takes the
``usage-import`` row with one conditional UPDATE — free, lapsed, or already its own — so on a
shared PostgreSQL only the holder fetches. A holder that dies stops renewing and another replica
takes over once the lease lapses (two intervals). SQLite serves one process, which simply wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from service.jobs.watcher import default_holder
from service.leases import release_lease, take_lease
from service.settings import Settings
from service.types import utcnow
from service.usage_import.service import NOT_CONFIGURED, run_import

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from fastapi import FastAPI

log = logging.getLogger(__name__)
LEASE_NAME = "usage-import"


class UsageImporter:
    name = "usage-importer"

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.holder = holder or default_holder()
        self.clock = clock
        self._scheduler: BackgroundScheduler | None = None

    @property
    def lease_seconds(self) -> float:
        return max(2 * self.settings.usage_import_interval_seconds, 60.0)

    def acquire_lease(self) -> bool:
        return take_lease(
            self.engine,
            name=LEASE_NAME,
            holder=self.holder,
            now=self.clock(),
            seconds=self.lease_seconds,
        )

    def release_lease(self) -> None:
        release_lease(self.engine, name=LEASE_NAME, holder=self.holder)

    def tick(self) -> dict[str, Any] | None:
        """One scheduled run if this replica holds the lease; None when another one does."""
        try:
            if not self.acquire_lease():
                return None
            return run_import(
                engine=self.engine, settings=self.settings, trigger="schedule", now=self.clock()
            )
        except Exception:  # the database may be away: the next interval tries again
            log.exception("usage import tick failed")
            return None

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.usage_import_interval_seconds,
            id=self.name,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "usage importer %s started: every %ss",
            self.holder,
            self.settings.usage_import_interval_seconds,
        )

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
            self.release_lease()


def importer_factory(app: FastAPI) -> UsageImporter | None:
    """Background factory for create_app: runs only with an admin key (the status says why not)."""
    settings: Settings = app.state.settings
    if settings.openai_admin_key is None:
        log.info("usage importer not started: %s", NOT_CONFIGURED)
        return None
    importer = UsageImporter(engine=app.state.engine, settings=settings)
    app.state.usage_importer = importer
    return importer
