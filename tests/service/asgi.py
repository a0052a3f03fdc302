"""Calling the app on the ASGI wire, for what a test client cannot send: framing, partial bodies,
many requests in one event loop, a hook at the moment the response starts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

ASGIApp = Callable[..., Any]


def http_scope(
    method: str,
    path: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    root_path: str = "",
) -> dict[str, Any]:
    path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }


def bearer(secret: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {secret}".encode())


def json_body(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


async def call(
    app: ASGIApp,
    scope: dict[str, Any],
    chunks: Sequence[bytes] = (b"",),
    *,
    client_leaves_mid_body: bool = False,
    on_response_start: Callable[[], None] | None = None,
) -> tuple[int, bytes]:
    """(status, body). The body arrives in `chunks`; then, as from a server, nothing more until
    the response is complete (or at once, with `client_leaves_mid_body`), then a disconnect."""
    unread = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if client_leaves_mid_body:
        unread[-1]["more_body"] = True
        unread.append({"type": "http.disconnect"})
    answered = asyncio.Event()
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if unread:
            return unread.pop(0)
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            if on_response_start is not None:
                on_response_start()
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body"):
                answered.set()

    await app(scope, receive, send)
    return status, b"".join(body)
