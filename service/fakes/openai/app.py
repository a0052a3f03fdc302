"""The fake as an ASGI app: OpenAI's transport rules (bearer auth, error shapes, request
counting) around the routers of each API area."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from service.fakes.openai import costs, files, fine_tuning, models, usage
from service.fakes.openai.core import RecordedRequest
from service.fakes.openai.errors import FakeOpenAIError
from service.fakes.openai.state import FakeOpenAIState

__all__ = ["create_fake_openai_app", "main"]

logger = logging.getLogger(__name__)


class _TransportMiddleware:
    """Counts requests and checks the bearer token, then lets the state serve the request
    (:meth:`StateCore.dispatch`, which tests override to inject faults).

    Pure ASGI (not BaseHTTPMiddleware) so streamed bodies pass through untouched and a
    dispatcher can hold back a fully processed answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        fastapi_app: FastAPI = scope["app"]
        state: FakeOpenAIState = fastapi_app.state.fake
        method: str = scope["method"]
        path: str = scope["path"]
        endpoint = f"{method} {_route_template(fastapi_app, scope)}"
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        state.record_request(
            RecordedRequest(
                method=method,
                path=path,
                raw_path=scope.get("raw_path", path.encode()).decode("latin-1"),
                endpoint=endpoint,
                query_string=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
            )
        )
        auth_error = _check_auth(state, headers.get("authorization"))
        if auth_error is not None:
            await auth_error.response()(scope, receive, send)
            return
        await state.dispatch(self.app, scope, receive, send, endpoint=endpoint)


def _route_template(app: FastAPI, scope: Scope) -> str:
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return str(scope["path"])


def _mask_key(key: str) -> str:
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else "***"


def _check_auth(state: FakeOpenAIState, authorization: str | None) -> FakeOpenAIError | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return FakeOpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
            "or as the password field (with blank username) if you're accessing the API from "
            "your browser and are prompted for a username and password. You can obtain an "
            "API key from https://platform.openai.com/account/api-keys.",
        )
    if state.api_key is not None and token.strip() != state.api_key:
        return FakeOpenAIError(
            401,
            f"Incorrect API key provided: {_mask_key(token.strip())}. You can find your API "
            "key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None


def create_fake_openai_app(state: FakeOpenAIState | None = None) -> FastAPI:
    """The fake as an ASGI app; its state is ``app.state.fake`` (replaceable between tests)."""
    app = FastAPI(title="fake OpenAI API", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.fake = state if state is not None else FakeOpenAIState()
    app.add_middleware(_TransportMiddleware)

    @app.exception_handler(FakeOpenAIError)
    async def fake_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FakeOpenAIError)
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = (
            f"Invalid URL ({request.method} {request.url.path})"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        return FakeOpenAIError(exc.status_code, message).response()

    for area in (files, fine_tuning, models, usage, costs):
        area.add_routes(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m service.fakes.openai``: serve the fake on a loopback port."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Loopback fake of the OpenAI fine-tuning API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--step-seconds", type=float, default=5.0, help="time each job spends in each state"
    )
    parser.add_argument("--api-key", default=None, help="accept only this bearer token")
    parser.add_argument(
        "--file", action="append", default=[], type=Path, help="pre-upload a .jsonl file"
    )
    args = parser.parse_args(argv)

    state = FakeOpenAIState(step_seconds=args.step_seconds, api_key=args.api_key)
    for path in args.file:
        file_id = state.add_file(path.name, path.read_bytes())
        print(f"{file_id}\t{path}")  # the ids are what a demo script needs
    uvicorn.run(create_fake_openai_app(state), host=args.host, port=args.port)
