"""FastAPI dependencies shared by every feature router: settings, sessions, the caller's key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.auth.service import Principal, authenticate
from service.db import session_scope
from service.errors import Forbidden, NotAuthenticated
from service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer rc_...`")


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


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


def require(scope: str) -> Callable[..., Principal]:
    def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[Principal, Depends(require("read"))]
EstimateKey = Annotated[Principal, Depends(require("estimate"))]
LaunchKey = Annotated[Principal, Depends(require("launch"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
