"""`last_used_at` of API keys, so admins can find keys nobody uses any more.

Recording every request would be a write per request, also on reads: instead each process
records a key's use at most once per hour (and the UPDATE itself skips keys recorded by another
replica within the hour), in a short transaction of its own. A failed write is logged, never
turned into a failed request.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from service.auth.models import ApiKey
from service.db import write_transaction
from service.types import utcnow

log = logging.getLogger(__name__)
GRANULARITY = timedelta(hours=1)


class LastUsed:
    def __init__(self, *, granularity: timedelta = GRANULARITY) -> None:
        self._granularity = granularity
        self._recorded: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def due(self, key_id: int, *, now: datetime | None = None) -> bool:
        """True once per key and granularity: the caller then calls record()."""
        now = now or utcnow()
        recorded = self._recorded.get(key_id)
        if recorded is not None and now - recorded < self._granularity:
            return False
        with self._lock:
            recorded = self._recorded.get(key_id)
            if recorded is not None and now - recorded < self._granularity:
                return False
            self._recorded[key_id] = now
            return True

    def record(self, engine: Engine, key_id: int, *, now: datetime | None = None) -> None:
        now = now or utcnow()
        statement = (
            update(ApiKey)
            .where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
            .where(
                or_(
                    col(ApiKey.last_used_at).is_(None),
                    col(ApiKey.last_used_at) < now - self._granularity,
                )
            )
            .values(last_used_at=now)
        )
        try:
            with write_transaction(engine) as connection:
                connection.execute(statement)
        except SQLAlchemyError as exc:
            log.warning("could not record the use of API key %s: %s", key_id, exc)
