"""API keys: random, prefixed, shown once, kept only as a SHA-256 hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, FromClause, Select, bindparam, outerjoin, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from service.auth.models import SCOPES, ApiKey
from service.auth.strength import KEY_PREFIX, SECRET_BYTES
from service.db import final_write
from service.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from service.types import utcnow

log = logging.getLogger(__name__)
_LOOKUP_CHARS = 8
_API_KEYS = ApiKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def key_digest(secret: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough; no salt or KDF needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def _lookup_prefix(secret: str) -> str:
    return secret[: len(KEY_PREFIX) + _LOOKUP_CHARS]


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def create_key(
    session: Session, *, name: str, scopes: Iterable[str], secret: str | None = None
) -> tuple[ApiKey, str]:
    scope_list = sorted(set(scopes))
    unknown = [s for s in scope_list if s not in SCOPES]
    if unknown or not scope_list:
        raise InvalidInput(
            f"scopes must be a non-empty subset of {', '.join(SCOPES)}; "
            f"got {', '.join(unknown) or 'none'}"
        )
    if session.exec(select(ApiKey).where(ApiKey.name == name)).first():
        raise Conflict(f"an API key named {name!r} already exists")
    secret = secret or new_secret()
    if not secret.startswith(KEY_PREFIX) or len(secret) < 24:
        raise InvalidInput(f"API keys start with {KEY_PREFIX!r} and are at least 24 characters")
    key = ApiKey(
        name=name,
        prefix=_lookup_prefix(secret),
        key_hash=key_digest(secret),
        scopes=" ".join(scope_list),
    )
    session.add(key)
    session.flush()
    log.info("created API key %s (%s) with scopes %s", key.id, name, key.scopes)
    return key, secret


# Every request runs this query: built once, reading the columns it needs, not ORM objects.
_CANDIDATES = sa_select(
    *[col(c) for c in (ApiKey.id, ApiKey.name, ApiKey.key_hash, ApiKey.scopes, ApiKey.revoked_at)]
).where(col(ApiKey.prefix) == bindparam("prefix"))


def authenticate(session: Session | Connection, *, secret: str) -> Principal:
    # Session.execute and Connection.execute type their rows differently; both give these tuples.
    candidates = cast(
        Sequence[tuple[Any, ...]],
        session.execute(_CANDIDATES, {"prefix": _lookup_prefix(secret)}).all(),
    )
    digest = key_digest(secret)
    match = None
    for key_id, name, key_hash, scopes, revoked_at in candidates:
        if hmac.compare_digest(key_hash, digest):
            match = (key_id, name, scopes, revoked_at)
    if match is None or match[3] is not None:
        raise NotAuthenticated("invalid or revoked API key")
    key_id, name, scopes, _ = match
    return Principal(int(key_id), str(name), frozenset(str(scopes).split()))


_IS_LIVE = (col(ApiKey.id) == bindparam("key_id"), col(ApiKey.revoked_at).is_(None))
_LIVE = sa_select(col(ApiKey.id)).where(*_IS_LIVE)


def with_live_key(table: FromClause, onclause: ColumnElement[bool], *columns: Any) -> Select[Any]:
    """A read that makes is_live's check in its own statement (one round trip, not two): one row
    when key `key_id` is live, with `columns` of the row of `table` that `onclause` matches (NULL
    when none does); no row when the key is revoked or gone."""
    return (
        sa_select(col(ApiKey.id).label("live_key_id"), *columns)
        .select_from(outerjoin(_API_KEYS, table, onclause))
        .where(*_IS_LIVE)
    )


def is_live(connection: Session | Connection, *, key_id: int) -> bool:
    """Whether the key still exists unrevoked: a primary-key lookup, for a key whose secret was
    matched before (service.auth.cache)."""
    return connection.execute(_LIVE, {"key_id": key_id}).first() is not None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.id)).all())  # type: ignore[arg-type]


def _live_admin_ids(connection: Connection) -> list[int]:
    """Ids of the keys that can still administer; on PostgreSQL their rows stay locked until the
    transaction ends, so two revocations cannot each see the other's key as the one left."""
    statement = (
        sa_select(col(ApiKey.id), col(ApiKey.scopes))
        .where(col(ApiKey.revoked_at).is_(None), col(ApiKey.scopes).contains("admin"))
        .order_by(col(ApiKey.id))
        .with_for_update()  # ignored by SQLite, where final_write already holds the write lock
    )
    rows = connection.execute(statement).all()
    return [int(str(key_id)) for key_id, scopes in rows if "admin" in str(scopes).split()]


def revoke_key(session: Session, *, key_id: int) -> ApiKey:
    """Revoke a key; the last live admin key is refused (Conflict), or nobody could manage keys
    again and RATECARD_ADMIN_API_KEY would not help either (it only seeds an empty table)."""
    with final_write(session) as connection:
        admins = _live_admin_ids(connection)
        row = (
            connection.execute(sa_select(_API_KEYS).where(col(ApiKey.id) == key_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no API key {key_id}")
        key = ApiKey.model_validate(dict(row))
        if key.revoked_at is None:
            if admins == [key_id]:
                raise Conflict(
                    f"API key {key_id} ({key.name}) is the last live admin key; create another "
                    "admin key first (POST /v1/keys, or `ratecard keys create --scopes admin` on "
                    "the host), then revoke this one"
                )
            key.revoked_at = utcnow()
            connection.execute(
                update(ApiKey)
                .where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=key.revoked_at)
            )
            log.info("revoked API key %s (%s)", key_id, key.name)
    return key


def has_any_key(session: Session) -> bool:
    return session.exec(select(ApiKey.id).limit(1)).first() is not None
