"""The scheduled costs import: one importer across replicas, then the summaries that are due.

Every replica runs this loop; only the holder of the ``costs-import`` lease imports
(service.leases, shared with the job watcher and the usage import), so several replicas on one
PostgreSQL database never import at once. A holder that dies stops renewing and is replaced once
the lease lapses. The import itself is idempotent, so an overlap after a lapse would only repeat
work, never double a figure. A refused admin key is a setup error: logged once per run, never
retried faster than the interval.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from service.billing import summary
from service.billing.importer import AdminKeyRefused, run_import
from service.db import session_scope
from service.errors import ServiceError
from service.leases import take_lease
from service.periodic import PeriodicThread
from service.settings import Settings
from service.types import utcnow

log = logging.getLogger(__name__)
LEASE_NAME = "costs-import"


class CostsImporter(PeriodicThread):
    name = "costs-import"

    def __init__(self, engine: Engine, settings: Settings) -> None:
        # The first run at start: a new installation backfills at once.
        super().__init__(
            interval_seconds=settings.costs_import_interval_seconds, first_delay_seconds=0.0
        )
        self._engine = engine
        self._settings = settings
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire_lease(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        # Two intervals: a run that takes a while still renews before anyone may take over.
        return take_lease(
            self._engine,
            name=LEASE_NAME,
            holder=self.holder,
            now=now or utcnow(),
            seconds=2 * self._interval,
        )

    def tick(self) -> bool:
        """One scheduled run: import, then publish due summaries. False when not the holder."""
        if not self.acquire_lease():
            return False
        try:
            run_import(self._engine, self._settings, trigger="schedule")
        except AdminKeyRefused as exc:
            log.error("costs import: %s", exc.detail)
            return True
        except ServiceError as exc:
            log.warning("costs import failed, retrying in %.0f s: %s", self._interval, exc.detail)
            return True
        with session_scope(self._engine) as session:
            summary.publish_due(session, today=utcnow().date())
        return True

    def run_once(self) -> object:
        return self.tick()


def importer_factory(app: FastAPI) -> CostsImporter | None:
    """Background factory for create_app: runs only with an admin key configured."""
    settings: Settings = app.state.settings
    if settings.openai_admin_key is None:
        return None
    return CostsImporter(app.state.engine, settings)
