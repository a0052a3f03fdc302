"""Group commit for estimate records.

Concurrent estimate requests hand their rows to one writer per event loop; the writer stores
everything that queued up while its previous transaction ran in one transaction, and answers each
request only after that transaction committed (a client holding a 201 can read its estimate back
on any replica). One transaction and one threadpool hop per batch instead of per request is what
lets the estimate endpoints keep up with the framework's own cost per request.

Each row carries the price reference and API key revisions it was priced and authenticated at;
the writer reads the current ones in the storing transaction and sends back rows whose revisions
moved (a publish, an override, or a key created or revoked on any replica) as StaleCache, for
the caller to redo on the authoritative path.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.db import write_transaction
from service.estimates.service import store_estimates
from service.prices.models import ReferenceRevision

log = logging.getLogger(__name__)

_REVISION_TABLE = ReferenceRevision.__table__  # type: ignore[attr-defined]
_REVISIONS = select(_REVISION_TABLE.c.revision, _REVISION_TABLE.c.keys_revision)
# Bounds one transaction's size (and the time its SQLite write lock is held).
MAX_BATCH = 256


class StaleCache(Exception):
    """The row was priced or authenticated at revisions that are no longer current."""


@dataclass(eq=False)  # compared and hashed by identity
class _Pending:
    row: dict[str, Any]
    revisions: tuple[int, int]
    future: asyncio.Future[None]


@dataclass
class _Queue:
    pending: list[_Pending] = field(default_factory=list)
    flushing: asyncio.Task[None] | None = None


class EstimateWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Per event loop: futures belong to their loop (uvicorn has one; tests start several).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def write(
        self, row: dict[str, Any], *, reference_revision: int, keys_revision: int
    ) -> None:
        """Store the row; returns once it is committed. Raises StaleCache or the database error."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        pending = _Pending(row, (reference_revision, keys_revision), loop.create_future())
        queue.pending.append(pending)
        if queue.flushing is None:
            queue.flushing = loop.create_task(self._flush(queue))
        await pending.future

    async def _flush(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                batch = queue.pending[:MAX_BATCH]
                del queue.pending[:MAX_BATCH]
                try:
                    stale = await run_in_threadpool(self._commit, batch)
                except Exception as exc:
                    log.warning("could not store %d estimate(s): %s", len(batch), exc)
                    for pending in batch:
                        _settle(pending, exc)
                    continue
                for pending in batch:
                    _settle(pending, StaleCache() if pending in stale else None)
        finally:
            queue.flushing = None

    def _commit(self, batch: list[_Pending]) -> set[_Pending]:
        with write_transaction(self._engine) as connection:
            current = tuple(connection.execute(_REVISIONS).one())
            fresh = [p for p in batch if p.revisions == current]
            if fresh:
                store_estimates(connection, [p.row for p in fresh])
        return {p for p in batch if p.revisions != current}


def _settle(pending: _Pending, error: BaseException | None) -> None:
    if pending.future.done():  # the request was cancelled (client gone) while it waited
        return
    if error is None:
        pending.future.set_result(None)
    else:
        pending.future.set_exception(error)
