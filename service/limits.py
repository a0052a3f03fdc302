"""What a request may carry before a route sees it: control characters are refused in the path
and query string, and the body size is limited.

The body size limit: bodies are read into memory (or, for uploads, onto disk) before
they are validated.

FastAPI's own max_body_size answers text/plain when the declared Content-Length is over the
limit (it rewrites whatever response the app sends); this middleware keeps every error a
problem response.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import problem, status_phrase

# Methods none of our endpoints reads a body for.
_BODILESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class RequestSizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path  # paths (below the root path) with a limit of their own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            # Nothing reads these bodies into memory: a streaming response's disconnect watch
            # discards what it receives.
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        limit = self.per_path.get(path, self.max_bytes)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await problem(413, status_phrase(413), _detail(limit))(scope, receive, send)
            return
        # Counted as it arrives too: a chunked body declares nothing, and a server that reads a
        # chunked body despite a Content-Length (h11) delivers more than was declared.
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: FastAPI passes those on from a body read, and the
                    # problem handlers answer it like any other error.
                    raise HTTPException(413, _detail(limit))
            return message

        await self.app(scope, limited_receive, send)


def _detail(limit: int) -> str:
    return f"request bodies to this endpoint are limited to {limit:,} bytes"


def _declared_length(scope: Scope) -> int | None:
    for name, _ in scope["headers"]:
        if name == b"transfer-encoding":
            return None  # the chunked framing, not Content-Length, says how long the body is
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # servers refuse a malformed Content-Length before the app runs
    return None


# C0 controls and DEL. No identifier, filter or date this API takes contains one, and the
# databases refuse some (PostgreSQL text cannot hold NUL): refused before any route runs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ControlCharacterGuard:
    """Answers 422 to a request whose path or query string holds a control character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _control_character_in(scope)
            if where is not None:
                detail = f"the {where} may not contain control characters (such as NUL)"
                errors = [{"loc": [where], "msg": detail, "type": "control_character"}]
                response = problem(422, "Invalid request", detail, errors=errors)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _control_character_in(scope: Scope) -> str | None:
    if _CONTROL.search(scope["path"]):
        return "path"
    query = unquote_plus(scope.get("query_string", b"").decode("latin-1"))
    if _CONTROL.search(query):
        return "query"
    return None
