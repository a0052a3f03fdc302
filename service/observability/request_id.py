"""The request id: taken from the caller's X-Request-ID when it is safe to echo, else made.

It is held in a context variable for the duration of the request, so every log line written
while handling it (whatever the logger) and every problem response carries it.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
# Ids from proxies and clients (UUIDs, ULIDs, AWS trace ids, `svc-123.4`) fit; anything longer,
# or with characters that could forge a log line or a header (spaces, quotes, CR/LF), is
# replaced rather than echoed.
MAX_LENGTH = 128
_SAFE = re.compile(rf"[A-Za-z0-9._:=+/-]{{1,{MAX_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("ratecard_request_id", default=None)


def accept_or_make(given: str | None) -> str:
    """``given`` if it is a safe id, else a new random one (32 hex digits)."""
    if given is not None and _SAFE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def bind_request_id(request_id: str | None) -> None:
    _current.set(request_id)
