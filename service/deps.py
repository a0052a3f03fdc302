"""FastAPI dependencies shared by every feature router: settings, sessions, the caller's key."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session
from starlette.datastructures import State

from service.auth.cache import KeyCache
from service.auth.last_used import LastUsed
from service.auth.service import Principal, authenticate, is_live
from service.db import ConnectionGate, is_sqlite, session_scope
from service.errors import Forbidden, NotAuthenticated
from service.settings import Settings

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer rc_...`")
T = TypeVar("T")


# Dependencies that do no I/O are async: FastAPI runs every sync dependency in the threadpool,
# and those hops were most of what a cheap endpoint cost.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_session(
    request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> AsyncIterator[Session]:
    """One session and transaction per request, committed before the response is sent.

    Opening a session does no I/O (it connects on first use, in the threadpool); commit and
    rollback do, so they run in the threadpool too. The request waits for a slot of the
    connection gate first (service.db.ConnectionGate).
    """
    gate: ConnectionGate = request.app.state.connection_gate
    async with gate:
        session = Session(engine, expire_on_commit=False)
        try:
            yield session
        except BaseException:
            await run_in_threadpool(session.close)  # closing rolls back
            raise
        await run_in_threadpool(_commit_and_close, session)


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


# scope="function": the commit happens before the response goes out, so a client that got 201
# can read the row back at once, and a failed commit is an error response, not a lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    # Keys are accepted only in the Authorization header, never in a query string
    # (they leak into logs).
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("missing API key: send `Authorization: Bearer rc_...`")
    return credentials.credentials


def checked_key(
    connection: Session | Connection,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
) -> Principal:
    """The caller's key as the api_keys table has it now, read on the caller's connection.

    A secret that authenticated before is found in the key cache (by its digest) and only
    re-checked by id, a primary-key lookup, that its key still exists unrevoked: a key revoked on
    any replica, or by hand in the database, is refused on its next request. Keys' scopes never
    change, so the cached ones hold; anything else is a full authenticate().
    """
    secret = _secret(credentials)
    state = request.app.state
    keys: KeyCache = state.key_cache
    principal = keys.get(secret)
    if principal is None or not is_live(connection, key_id=principal.key_id):
        try:
            principal = authenticate(connection, secret=secret)
        except NotAuthenticated:
            keys.forget(secret)  # revoked since it was cached (key_first_route let it in)
            raise
        keys.put(secret, principal)
    _note_use(state, principal.key_id)
    return principal


def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # The request's own session is reused: one connection and one transaction per request.
    return checked_key(session, request, credentials)


@contextmanager
def read_connection(
    request: Request, credentials: HTTPAuthorizationCredentials | None, *, scope: str = "read"
) -> Iterator[Connection]:
    """A connection of its own for a read endpoint, the caller's key checked on it first.

    For use within one worker-thread call: the key check and the read then cost one thread hop
    and one connection checkout, no ORM session and no commit (nothing was written; the
    connection's return to the pool ends its transaction). Such a request needs no slot of the
    connection gate, as it never waits for a thread while holding a connection.
    """
    with _read_only(request.app.state.engine) as connection:
        require_scope(checked_key(connection, request, credentials), scope)
        yield connection


@contextmanager
def _read_only(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        if not is_sqlite(engine):
            # No transaction: PostgreSQL would spend a round trip on BEGIN and another on the
            # ROLLBACK when the connection goes back to the pool. Each statement reads committed
            # data on its own, which is all a key check and a read need. (pysqlite opens no
            # transaction for a read anyway, and switching it would cost a PRAGMA.)
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def keyed_read(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    read: Callable[[Connection, int], T | None],
    *,
    scope: str = "read",
) -> T:
    """An idempotent read for the caller's key, on a connection of its own (as read_connection),
    with the key's check folded into the read's first statement.

    `read(connection, key_id)` reads whether api_keys row `key_id` is still unrevoked in its
    first statement and returns None, sending nothing on, when it is not. A key in the key cache
    then costs no round trip of its own, and a key revoked on any replica is still refused on
    its next request: the None leads to the full check, which answers 401. A key not in the
    cache (or cached without the scope) is checked first, as checked_key does.

    A connection the database dropped while it sat in the pool fails the first statement; the
    pool then replaces every connection as old (service.db), and the read is tried once more.
    """
    engine: Engine = request.app.state.engine
    try:
        return _keyed_read(engine, request, credentials, read, scope)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.info("database connection lost (%s); reading again", type(exc.orig).__name__)
    return _keyed_read(engine, request, credentials, read, scope)


def _keyed_read(
    engine: Engine,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    read: Callable[[Connection, int], T | None],
    scope: str,
) -> T:
    secret = _secret(credentials)
    state = request.app.state
    keys: KeyCache = state.key_cache
    with _read_only(engine) as connection:
        cached = keys.get(secret)
        if cached is not None and cached.has(scope):
            result = read(connection, cached.key_id)
            if result is not None:
                _note_use(state, cached.key_id)
                return result
        # Not cached, or revoked since: the api_keys table decides (401 when revoked).
        principal = checked_key(connection, request, credentials)
        require_scope(principal, scope)
        result = read(connection, principal.key_id)
        if result is None:  # revoked between the two statements
            keys.forget(secret)
            raise NotAuthenticated("invalid or revoked API key")
        return result


def _note_use(state: State, key_id: int) -> None:
    """Record the key's use, at most as often as LastUsed allows (a write)."""
    last_used: LastUsed = state.last_used
    if last_used.due(key_id):
        last_used.record(state.engine, key_id)


def require_scope(principal: Principal, scope: str) -> None:
    if not principal.has(scope):
        raise Forbidden(f"this API key lacks the {scope!r} scope")


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        require_scope(principal, scope)
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[Principal, Depends(require("read"))]
EstimateKey = Annotated[Principal, Depends(require("estimate"))]
LaunchKey = Annotated[Principal, Depends(require("launch"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]


@dataclass(frozen=True)
class Caller:
    """A key that authenticated, perhaps from the key cache: a first check only (key_first_route);
    the endpoint's own key dependency reads the api_keys table."""

    secret: str
    principal: Principal


def _authenticate_fresh(engine: Engine, secret: str) -> Principal:
    with session_scope(engine) as session:
        return authenticate(session, secret=secret)


async def authenticate_afresh(request: Request, secret: str, *, scope: str) -> Principal:
    """The key as the api_keys table has it now (one short transaction), cached for next time."""
    state = request.app.state
    keys: KeyCache = state.key_cache
    try:
        principal = await run_in_threadpool(_authenticate_fresh, state.engine, secret)
    except NotAuthenticated:
        keys.forget(secret)
        raise
    keys.put(secret, principal)
    require_scope(principal, scope)
    return principal


async def cached_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None, *, scope: str
) -> Caller:
    """Like require(scope), from the key cache when the key authenticated before (no I/O).

    A plain function, not a dependency: each dependency costs FastAPI time on every request,
    and the hot estimate endpoints call this from their one dependency.
    """
    secret = _secret(credentials)
    state = request.app.state
    keys: KeyCache = state.key_cache
    principal = keys.get(secret)
    if principal is None or not principal.has(scope):
        # Not cached, or cached without the scope: the table decides, so a key revoked
        # elsewhere is a 401 here too, not a 403 from an outdated entry.
        principal = await authenticate_afresh(request, secret, scope=scope)
    caller = Caller(secret, principal)
    last_used: LastUsed = state.last_used
    if last_used.due(caller.principal.key_id):
        await run_in_threadpool(last_used.record, state.engine, caller.principal.key_id)
    return caller


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def bearer_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """What BearerDep gives, for a handler that solves no dependencies."""
    return await _bearer(request)


def key_first_route(scope: str) -> type[APIRoute]:
    """A route class that checks the caller's key before the request body is read.

    FastAPI reads the whole body (a multipart upload: onto disk) before it solves any
    dependency, so an endpoint's own key dependency would let an anonymous client make the server
    spool a 1 GB upload before its 401. This check may answer from the key cache; the endpoint's
    key dependency stays the authoritative one.
    """

    class KeyFirstRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                await cached_caller(request, await bearer_credentials(request), scope=scope)
                return await handler(request)

            return handle

    KeyFirstRoute.__name__ = f"KeyFirstRoute_{scope}"
    return KeyFirstRoute


def own_read_key(request: Request, credentials: BearerDep) -> Principal:
    """The caller's read key, checked on a connection of its own within one worker-thread call:
    an endpoint that then streams (the CSV export) holds no connection while it waits for a
    thread (what the connection gate is there to bound)."""
    engine: Engine = request.app.state.engine
    with engine.connect() as connection:
        principal = checked_key(connection, request, credentials)
    require_scope(principal, "read")
    return principal


OwnReadKey = Annotated[Principal, Depends(own_read_key)]
