"""Dashboard sessions: a signed, expiring token in an HttpOnly cookie, checked on every request.

The cookie never holds the API key. It holds ``key id : expiry : nonce`` and an HMAC of them
under a signing key derived from the API key's stored hash, so:

- every replica can check it with what it already shares (the database), no new setting;
- the key's row is read on every request, so revoking the key (or narrowing nothing: scopes
  are read from the row too) ends its dashboard sessions at once, exactly as on the REST API;
- a token cannot be made without the key's hash, and a session ends at its expiry.

Forms that change state carry a CSRF token derived from the same signing key and the session's
nonce (a synchronizer token that needs no server-side storage); the cookie is SameSite=Strict too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from service.auth.models import ApiKey
from service.auth.service import Principal, authenticate
from service.errors import NotAuthenticated

COOKIE = "rc_ui_session"
SIGN_IN_COOKIE = "rc_ui_sign_in"  # double-submit token of the sign-in form (no session yet)
LIFETIME = timedelta(hours=8)
_VERSION = "v1"


@dataclass(frozen=True)
class UiSession:
    principal: Principal
    csrf: str
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(key: ApiKey) -> bytes:
    return hmac.new(
        key.key_hash.encode(), b"ratecard ui session " + _VERSION.encode(), "sha256"
    ).digest()


def _mac(signing_key: bytes, payload: bytes) -> bytes:
    return hmac.new(signing_key, payload, hashlib.sha256).digest()


def _csrf(signing_key: bytes, nonce: str) -> str:
    return _b64(_mac(signing_key, b"csrf:" + nonce.encode()))


def _principal(key: ApiKey) -> Principal:
    assert key.id is not None
    return Principal(key.id, key.name, key.scope_set)


def sign_in(session: Session, *, secret: str, now: datetime) -> tuple[str, UiSession]:
    """Check an API key as the REST API does; the cookie value and the session it opens."""
    principal = authenticate(session, secret=secret)
    key = session.get(ApiKey, principal.key_id)
    assert key is not None  # authenticate just read it
    nonce = secrets.token_urlsafe(16)
    expires = now + LIFETIME
    payload = f"{principal.key_id}:{int(expires.timestamp())}:{nonce}".encode()
    signing_key = _signing_key(key)
    token = f"{_VERSION}.{_b64(payload)}.{_b64(_mac(signing_key, payload))}"
    return token, UiSession(principal, _csrf(signing_key, nonce), expires)


def _parse(token: str) -> tuple[bytes, bytes, int, int, str]:
    version, payload_text, mac_text = token.split(".")
    if version != _VERSION:
        raise ValueError(version)
    payload, mac = _unb64(payload_text), _unb64(mac_text)
    key_id, expires, nonce = payload.decode().split(":")
    return payload, mac, int(key_id), int(expires), nonce


def resume(session: Session, *, token: str | None, now: datetime) -> UiSession:
    """The session a cookie holds, read against the key's row as it is now."""
    if not token:
        raise NotAuthenticated("not signed in")
    try:
        payload, mac, key_id, expires, nonce = _parse(token)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotAuthenticated("not signed in") from exc
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotAuthenticated("not signed in")
    signing_key = _signing_key(key)
    if not hmac.compare_digest(mac, _mac(signing_key, payload)):
        raise NotAuthenticated("not signed in")
    if key.revoked_at is not None:
        raise NotAuthenticated("the API key of this session was revoked")
    expiry = datetime.fromtimestamp(expires, tz=now.tzinfo)
    if expiry <= now:
        raise NotAuthenticated("the session expired; sign in again")
    return UiSession(_principal(key), _csrf(signing_key, nonce), expiry)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
