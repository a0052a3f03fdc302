"""FastAPI dependencies shared by every feature router: settings, sessions, the caller's key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.auth.service import Principal, authenticate
from service.errors import Forbidden, NotAuthenticated
from service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer rc_...`")


# Dependencies that do no I/O are async: FastAPI runs every sync dependency in the threadpool,
# and those hops were most of what a cheap endpoint cost.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Session]:
    """One session and transaction per request, committed before the response is sent.

    Opening a session does no I/O (it connects on first use, in the threadpool); commit and
    rollback do, so they run in the threadpool too.
    """
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


def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # Keys are accepted only in the Authorization header, never in a query string
    # (they leak into logs).
    # The request's own session is reused: one connection and one transaction per request.
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("missing API key: send `Authorization: Bearer rc_...`")
    return authenticate(session, secret=credentials.credentials)


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[Principal, Depends(require("read"))]
EstimateKey = Annotated[Principal, Depends(require("estimate"))]
LaunchKey = Annotated[Principal, Depends(require("launch"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
