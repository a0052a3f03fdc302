"""Background retention for usage: forgets expired request ids and buckets past retention.

Runs in every `ratecard serve` replica; the deletes are idempotent, so replicas pruning at the same
time only repeat each other's work. A failed sweep is logged and retried at the next interval.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from service.db import session_scope
from service.periodic import PeriodicThread
from service.settings import Settings
from service.types import utcnow
from service.usage import prune

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 600.0


class UsageJanitor(PeriodicThread):
    name = "usage-janitor"

    def __init__(
        self, engine: Engine, settings: Settings, interval_seconds: float = INTERVAL_SECONDS
    ) -> None:
        super().__init__(interval_seconds=interval_seconds, first_delay_seconds=interval_seconds)
        self._engine = engine
        self._settings = settings

    def sweep(self) -> tuple[int, int]:
        with session_scope(self._engine) as session:
            return prune.prune(session, now=utcnow(), settings=self._settings)

    def run_once(self) -> object:
        return self.sweep()


def janitor_factory(app: FastAPI) -> UsageJanitor | None:
    """Background factory for create_app."""
    return UsageJanitor(app.state.engine, app.state.settings)
