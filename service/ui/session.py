"""Dashboard sessions: a random token in an HttpOnly cookie, a row per session in the database.

The cookie never holds the API key, and the ``ui_sessions`` row never holds the token: only its
SHA-256 digest (the token has 256 random bits, so a fast hash is enough, as for API keys). So:

- every replica reads the same rows: a session opened on one is valid on all, and signing out
  on any one ends it everywhere, a copied cookie included;
- every request reads the session's row and checks its key's liveness as the REST API does
  (service.auth.service.is_live, a primary-key lookup): revoking the key ends its sessions on
  their next request, and scopes are the key's;
- a session ends when unused for the idle timeout or at the absolute one
  (RATECARD_UI_SESSION_IDLE_SECONDS, RATECARD_UI_SESSION_MAX_SECONDS); ended rows are deleted
  when met, and every sign-in prunes the rest.

Forms that change state carry a CSRF token: an HMAC of the session token, so it is per session,
needs no column, and cannot be computed from the table either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Executable, bindparam, delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from service.auth.models import ApiKey
from service.auth.service import Principal, authenticate, is_live
from service.db import final_write, write_transaction
from service.errors import NotAuthenticated
from service.settings import Settings
from service.ui.models import UiSessionRow

log = logging.getLogger(__name__)

COOKIE = "rc_ui_session"
SIGN_IN_COOKIE = "rc_ui_sign_in"  # double-submit token of the sign-in form (no session yet)
TOKEN_BYTES = 32
# last_seen_at is written at most this often per session (a write per page view would be a
# write lock per page view on SQLite); the idle timeout is that much less exact.
TOUCH_EVERY = timedelta(seconds=60)
_SESSIONS = UiSessionRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Timeouts:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Timeouts:
        return cls(
            timedelta(seconds=settings.ui_session_idle_seconds),
            timedelta(seconds=settings.ui_session_max_seconds),
        )


@dataclass(frozen=True)
class UiSession:
    principal: Principal
    csrf: str
    expires: datetime  # the absolute end; an idle session ends before
    digest: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _csrf(token: str) -> str:
    mac = hmac.new(token.encode(), b"ratecard ui csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _ended(*, now: datetime, timeouts: Timeouts) -> ColumnElement[bool]:
    return or_(
        col(UiSessionRow.expires_at) <= now,
        col(UiSessionRow.last_seen_at) <= now - timeouts.idle,
        col(UiSessionRow.key_id).in_(
            select(col(ApiKey.id)).where(col(ApiKey.revoked_at).is_not(None))
        ),
    )


def prune(session: Session, *, now: datetime, timeouts: Timeouts) -> int:
    """Delete the sessions nobody can use again (ended, or of a revoked key); how many.

    Run at each sign-in: sign-ins are rare and the delete is indexed, so no janitor is needed.
    A short transaction of its own, so a failure (or a lock another replica's prune holds) never
    costs the sign-in more than a log line.
    """
    pruned = _write_aside(
        session,
        delete(_SESSIONS).where(_ended(now=now, timeouts=timeouts)),
        failing="prune ended dashboard sessions",
    )
    if pruned:
        log.info("pruned %s ended dashboard sessions", pruned)
    return pruned


def sign_in(
    session: Session, *, secret: str, now: datetime, timeouts: Timeouts
) -> tuple[str, UiSession]:
    """Check an API key as the REST API does; the cookie value and the session it opens."""
    principal = authenticate(session, secret=secret)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    digest = token_digest(token)
    expires = now + timeouts.absolute
    prune(session, now=now, timeouts=timeouts)
    with final_write(session) as connection:
        connection.execute(
            _SESSIONS.insert().values(
                token_digest=digest,
                key_id=principal.key_id,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
    log.info("dashboard sign-in with API key %s (%s)", principal.key_id, principal.name)
    return token, UiSession(principal, _csrf(token), expires, digest)


# Every dashboard request runs this query: built once.
_RESUME = (
    select(
        col(UiSessionRow.key_id),
        col(UiSessionRow.last_seen_at),
        col(UiSessionRow.expires_at),
        col(ApiKey.name),
        col(ApiKey.scopes),
    )
    .join(ApiKey, col(ApiKey.id) == col(UiSessionRow.key_id))
    .where(col(UiSessionRow.token_digest) == bindparam("digest"))
)


def resume(session: Session, *, token: str | None, now: datetime, timeouts: Timeouts) -> UiSession:
    """The session a cookie holds, read with its key's row as they are now."""
    if not token or len(token) > 200:
        raise NotAuthenticated("not signed in")
    digest = token_digest(token)
    row = session.execute(_RESUME, {"digest": digest}).first()
    if row is None:  # never was, signed out, or pruned
        raise NotAuthenticated("not signed in")
    key_id, last_seen, expires, name, scopes = row
    # Liveness as the REST API decides it on every request (service.deps.checked_key): the one
    # definition of a usable key, whatever it comes to include.
    if not is_live(session, key_id=int(key_id)):
        _forget(session, digest)
        raise NotAuthenticated("the API key of this session was revoked")
    if expires <= now or last_seen + timeouts.idle <= now:
        _forget(session, digest)
        raise NotAuthenticated("the session expired; sign in again")
    if now - last_seen >= min(TOUCH_EVERY, timeouts.idle / 4):
        _touch(session, digest, now)
    principal = Principal(int(key_id), str(name), frozenset(str(scopes).split()))
    return UiSession(principal, _csrf(token), expires, digest)


def _write_aside(session: Session, statement: Executable, *, failing: str) -> int:
    """Run a write in a short transaction of its own; the rows it touched, 0 when it failed.

    Like LastUsed: on PostgreSQL a write in the request's transaction would hold its row lock for
    the whole page and make the session's other requests wait. A failed write is logged, never a
    failed page (a session refused stays refused; the next sign-in prunes its row).
    """
    try:
        with write_transaction(session.get_bind().engine) as connection:
            return int(connection.execute(statement).rowcount)
    except SQLAlchemyError as exc:
        log.warning("could not %s: %s", failing, exc)
        return 0


def _touch(session: Session, digest: str, now: datetime) -> None:
    _write_aside(
        session,
        update(_SESSIONS)
        .where(col(UiSessionRow.token_digest) == digest, col(UiSessionRow.last_seen_at) < now)
        .values(last_seen_at=now),
        failing="record the use of a dashboard session",
    )


def _forget(session: Session, digest: str) -> None:
    _write_aside(
        session,
        delete(_SESSIONS).where(col(UiSessionRow.token_digest) == digest),
        failing="delete an ended dashboard session",
    )


def sign_out(session: Session, ui: UiSession) -> None:
    """Delete the session's row: its cookie, and every copy of it, is refused from now on."""
    with final_write(session) as connection:
        connection.execute(delete(_SESSIONS).where(col(UiSessionRow.token_digest) == ui.digest))
    log.info("dashboard sign-out of API key %s", ui.principal.key_id)


def discard(session: Session, token: str | None) -> None:
    """Forget the session a cookie held, if any (a sign-in over an open session replaces it)."""
    if token and len(token) <= 200:
        _forget(session, token_digest(token))


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
