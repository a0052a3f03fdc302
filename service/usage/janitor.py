"""Background retention for usage: forgets expired request ids and buckets past retention.

Runs in every `ratecard serve` replica; the deletes are idempotent, so replicas pruning at the same
time only repeat each other's work. A failed sweep is logged and retried at the next interval.
"""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from service.db import session_scope
from service.settings import Settings
from service.types import utcnow
from service.usage import prune

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 600.0


class UsageJanitor:
    name = "usage-janitor"

    def __init__(
        self, engine: Engine, settings: Settings, interval_seconds: float = INTERVAL_SECONDS
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def sweep(self) -> tuple[int, int]:
        with session_scope(self._engine) as session:
            return prune.prune(session, now=utcnow(), settings=self._settings)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sweep()
            except Exception:
                log.exception("usage retention sweep failed; retrying in %.0f s", self._interval)


def janitor_factory(app: FastAPI) -> UsageJanitor | None:
    """Background factory for create_app."""
    return UsageJanitor(app.state.engine, app.state.settings)
