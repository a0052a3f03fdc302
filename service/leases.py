"""Named leases in the database: which replica runs a scheduled job now.

One row per job name (the job watcher's table). A holder takes or renews its lease with one
conditional UPDATE (free, lapsed, or already its own); a new name is inserted once. A holder
that crashes stops renewing, and another replica takes over once the lease lapses.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from service.jobs.models import WatcherLease

log = logging.getLogger(__name__)
_LEASES = WatcherLease.__table__  # type: ignore[attr-defined]
# Releasing moves the expiry into the past so another replica may take over at once.
_LAPSED = datetime(2000, 1, 1, tzinfo=UTC)


def take_lease(engine: Engine, *, name: str, holder: str, now: datetime, seconds: float) -> bool:
    """Take or renew ``name`` until ``now + seconds``; True while ``holder`` holds it."""
    expires = now + timedelta(seconds=seconds)
    lease = _LEASES
    with engine.begin() as conn:
        taken = (
            conn.execute(
                update(lease)
                .where(
                    lease.c.name == name, or_(lease.c.holder == holder, lease.c.expires_at < now)
                )
                .values(
                    holder=holder,
                    expires_at=expires,
                    # A renewal keeps the time it was first taken.
                    acquired_at=case((lease.c.holder == holder, lease.c.acquired_at), else_=now),
                )
            ).rowcount
            == 1
        )
        if taken:
            return True
        # Insert only a name never seen: inserting over a held row would only log a conflict.
        if conn.execute(select(lease.c.name).where(lease.c.name == name)).first() is not None:
            return False
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(lease).values(name=name, holder=holder, expires_at=expires, acquired_at=now)
            )
    except IntegrityError:
        return False  # another replica inserted it first
    return True


def release_lease(engine: Engine, *, name: str, holder: str) -> None:
    """Let another replica take over at once (graceful stop); never raises."""
    try:
        with engine.begin() as conn:
            conn.execute(
                update(_LEASES)
                .where(_LEASES.c.name == name, _LEASES.c.holder == holder)
                .values(expires_at=_LAPSED)
            )
    except Exception:
        log.exception("%s could not release lease %s; it lapses on its own", holder, name)
