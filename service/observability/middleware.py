"""One ASGI middleware for what every request reports: its id, its count and its latency.

Pure ASGI (no BaseHTTPMiddleware): it adds a perf_counter and a dict lookup to a request, and
streams bodies through untouched.
"""

from __future__ import annotations

import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.metrics import UNMATCHED, Metrics, bind_metrics
from service.observability.request_id import HEADER, accept_or_make, bind_request_id

_HEADER_BYTES = HEADER.lower().encode("latin-1")


def route_label(scope: Scope, entry_root_path: str) -> str:
    """The template of the route that answered (``/v1/jobs/{job_id}``), never the raw path, so
    the label set is bounded by the routes the app has."""
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    # Below a Mount, routes are relative to the mount's (constant) path, which root_path holds.
    mounted = str(scope.get("root_path", ""))[len(entry_root_path) :]
    if route is None or not isinstance(path_format, str):
        # A path a mounted app has no route for is labelled by the mount.
        return mounted + "/{path}" if mounted else UNMATCHED
    if isinstance(route, Mount):
        return (mounted or path_format) + "/{path}"
    return mounted + path_format


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = None
        for name, value in scope["headers"]:
            if name == _HEADER_BYTES:
                given = value.decode("latin-1")
                break
        request_id = accept_or_make(given)
        bind_request_id(request_id)
        bind_metrics(self.metrics)
        entry_root_path = str(scope.get("root_path", ""))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers") or []
                # problem() already set it on error responses.
                if not any(name.lower() == _HEADER_BYTES for name, _ in headers):
                    message["headers"] = [*headers, (_HEADER_BYTES, request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # An exception leaves the id bound: the outer error handler's 500 problem and its
            # log line still carry it (each request runs in a task of its own).
            if self.metrics is not None:
                self.metrics.observe_request(
                    scope["method"],
                    route_label(scope, entry_root_path),
                    status,
                    time.perf_counter() - started,
                )
