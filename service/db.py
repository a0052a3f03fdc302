"""Engine, sessions and migrations. SQLite (WAL) by default, PostgreSQL through the same code."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from pydantic_core import to_json
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)
_MIGRATION_LOCK_KEY = 0x7261746563617264  # "ratecard"
_sqlite_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
# The connection limit each engine was built with (the pool does not say it publicly).
_connection_limits: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str, *, connections: int | None = None) -> Engine:
    """`connections`: the most this process opens (default 50 on SQLite, 20 on PostgreSQL,
    where every replica's count adds up against the server's max_connections)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        limit = connections or 50
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json_text,
            **_pool(limit),
        )
        _connection_limits[engine] = limit

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # WAL lets readers run beside the single writer; busy_timeout waits instead of failing.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    limit = connections or 20
    engine = create_engine(url, json_serializer=_json_text, **_pool(limit))
    _connection_limits[engine] = limit
    _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine) -> None:
    """Test a connection before use only when it sat idle in the pool (SQLAlchemy's checkout
    event, as its disconnect-handling documentation describes).

    pool_pre_ping would ping on every checkout: a round trip per request, as much as the pools
    view's own statements. A connection back in use within seconds was working a moment ago; one
    left idle (over a database restart, a dropped TCP connection, an idle timeout) is pinged and
    replaced when dead. What the ping cannot see, a connection the server drops while it is in
    steady use, fails its next statement: SQLAlchemy then marks the error connection_invalidated
    and discards every connection older than the failure, so the request gets 503
    (service.problems) and the following ones a fresh connection; the keyed reads retry once
    (service.deps.keyed_read).
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except psycopg.Error as exc:
            # The pool discards this connection and hands out a new one.
            raise DisconnectionError(f"idle connection lost: {type(exc).__name__}") from exc


def connection_limit(engine: Engine) -> int:
    """The most connections the engine's pool opens, as create_db_engine was asked (an engine
    built elsewhere counts as one)."""
    return _connection_limits.get(engine, 1)


def _pool(connections: int) -> dict[str, Any]:
    # Opened on demand, up to the limit, and kept: an overflow connection closed on its return
    # to the pool is opened again by the next burst, and a PostgreSQL connection costs a
    # backend process and several round trips to open (the profile of 16 clients reading the
    # pools view showed connects and closes where half the pool was overflow).
    # Last in, first out: the connections just used (their statement and page caches warm)
    # serve the next requests, and the rest of the pool stays idle.
    return {"pool_size": connections, "max_overflow": 0, "pool_use_lifo": True}


# Connections kept beside the gated requests for work that checks one out, uses it and gives it
# back within one thread call (SQLite's final write, key checks, last_used, background threads).
RESERVED_CONNECTIONS = 4


class ConnectionGate:
    """Admits a bounded number of requests at a time to hold a database connection.

    A request's session keeps its connection across several threadpool calls (key check,
    endpoint, commit) and needs a free thread for each. Unbounded, more requests than the pool
    has connections would each take a thread to wait for a connection, while the requests
    holding all connections wait for a thread: nothing moves until the pool timeout (seen on
    PostgreSQL at 64 concurrent reads). Waiting here, in the event loop and before any
    connection is taken, costs no thread. A slot allows for two connections (SQLite writes take
    a second one), so the pool is never exhausted by admitted requests.
    """

    def __init__(self, engine: Engine) -> None:
        self.slots = max(1, (connection_limit(engine) - RESERVED_CONNECTIONS) // 2)
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()  # per event loop: tests run several

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.slots)
        return semaphore

    async def __aenter__(self) -> None:
        await self._semaphore().acquire()

    async def __aexit__(self, *_exc: object) -> None:
        self._semaphore().release()


def _json_text(value: Any) -> str:
    # JSON columns (every estimate stores its inputs and result) encoded by pydantic-core: the
    # same values as json.dumps gives (compact, UTF-8 kept as is), at a quarter of the cost.
    return to_json(value).decode()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("service").joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema in place (the same migrations on SQLite and PostgreSQL)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together must not run the same migration twice: serialise them.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")
    log.info("database schema is at heads (%s)", engine.url.render_as_string(hide_password=True))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A short write transaction of its own, committed on exit.

    SQLite has one writer at a time and makes the others sleep-poll (busy_timeout backs off in
    milliseconds); this process's writers queue on a lock instead, which wakes the next one at
    once, and the database lock is held for the statements and the commit only.
    PostgreSQL: an ordinary transaction (READ COMMITTED); lock what must not change.
    """
    if not is_sqlite(engine):
        with engine.begin() as connection:
            yield connection
        return
    lock = _sqlite_writers.setdefault(engine, threading.Lock())
    with lock, engine.begin() as connection:
        # Take the database's write lock first (pysqlite would only begin at the first write):
        # what the transaction reads before writing cannot be changed by another writer, of
        # this process or any other, until it commits.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection


@contextmanager
def final_write(session: Session) -> Iterator[Connection]:
    """Where a request makes its one and last write.

    PostgreSQL: the request's own transaction (writers do not block each other). SQLite: a
    write_transaction of its own, so a request never holds SQLite's write lock across threadpool
    hops until its session commits (that stalled every other writer).
    """
    engine = session.get_bind().engine
    if not is_sqlite(engine):
        yield session.connection()
        return
    with write_transaction(engine) as connection:
        yield connection
