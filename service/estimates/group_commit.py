"""Group commit for estimate records.

Concurrent estimate requests hand their rows to one writer per event loop; the writer stores
everything that queued up while its previous transaction ran in one transaction, and answers each
request only after that transaction committed (a client holding a 201 can read its estimate back
on any replica). One transaction and one threadpool hop per batch instead of per request is what
lets the estimate endpoints keep up with the framework's own cost per request.

Rows are priced from this process's cached price reference and authenticated from its key
cache, so the storing transaction checks both: the price reference revision must still be the
current one, and the requesting key must still exist unrevoked in api_keys (however it was
revoked: through any replica, by older code during a rolling deploy, or by hand). Rows that fail
either check, and every row of a batch whose transaction failed, come back as NotStored for the
caller to redo alone on the authoritative path, so one bad row or a passing database error never
fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from service.auth.models import ApiKey
from service.db import write_transaction
from service.estimates.service import log_stored, store_estimates
from service.prices.models import ReferenceRevision

log = logging.getLogger(__name__)

# A publish or a revocation that comes while a batch is being stored waits for its commit, so no
# row is stored at a price version or by a key that stopped being current before the commit:
# FOR SHARE on PostgreSQL, and on SQLite the write lock write_transaction takes before any read.
_REVISION = select(col(ReferenceRevision.revision)).with_for_update(read=True)
_LIVE_KEYS = (
    select(col(ApiKey.id))
    .where(col(ApiKey.id).in_(bindparam("ids", expanding=True)), col(ApiKey.revoked_at).is_(None))
    .with_for_update(read=True)
)
# Bounds one transaction's size (and the time its SQLite write lock is held).
MAX_BATCH = 256


class NotStored(Exception):
    """The batch did not store this row: its price reference or key was outdated, or the batch's
    transaction failed. The request is to be redone on its own."""


@dataclass(eq=False)  # compared and hashed by identity
class _Pending:
    row: dict[str, Any]
    reference_revision: int
    key_id: int
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

    async def write(self, row: dict[str, Any], *, reference_revision: int, key_id: int) -> None:
        """Store the row; returns once it is committed, or raises NotStored."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        pending = _Pending(row, reference_revision, key_id, loop.create_future())
        queue.pending.append(pending)
        if queue.flushing is None:
            queue.flushing = loop.create_task(self._flush(queue))
            queue.flushing.add_done_callback(lambda task: _cancelled_before_start(queue, task))
        await pending.future

    async def _flush(self, queue: _Queue) -> None:
        batch: list[_Pending] = []
        try:
            while queue.pending:
                batch = queue.pending[:MAX_BATCH]
                del queue.pending[:MAX_BATCH]
                try:
                    stored = await run_in_threadpool(self._commit, batch)
                except Exception as exc:
                    log.warning(
                        "could not store a batch of %d estimate(s), storing each alone: %s",
                        len(batch),
                        exc,
                    )
                    stored = set()
                for pending in batch:
                    _settle(pending, None if pending in stored else NotStored())
                batch = []
        except BaseException:
            # Cancelled (shutdown) or worse: nobody may be left waiting for an answer.
            for pending in batch + queue.pending:
                _settle(pending, NotStored())
            queue.pending.clear()
            raise
        finally:
            queue.flushing = None

    def _commit(self, batch: list[_Pending]) -> set[_Pending]:
        with write_transaction(self._engine) as connection:
            revision = connection.execute(_REVISION).scalar_one()
            key_ids = sorted({p.key_id for p in batch})
            live = set(connection.execute(_LIVE_KEYS, {"ids": key_ids}).scalars())
            fresh = [p for p in batch if p.reference_revision == revision and p.key_id in live]
            if fresh:
                store_estimates(connection, [p.row for p in fresh])
        log_stored([p.row for p in fresh])
        return set(fresh)


def _cancelled_before_start(queue: _Queue, task: asyncio.Task[None]) -> None:
    # A task cancelled before its first step never runs its body (nor its finally): answer
    # whoever it would have served, and let the next write start a new flush.
    if task.cancelled() and queue.flushing is task:
        queue.flushing = None
        for pending in queue.pending:
            _settle(pending, NotStored())
        queue.pending.clear()


def _settle(pending: _Pending, error: BaseException | None) -> None:
    if pending.future.done():  # the request was cancelled (client gone) while it waited
        return
    if error is None:
        pending.future.set_result(None)
    else:
        pending.future.set_exception(error)
