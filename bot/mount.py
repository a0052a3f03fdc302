"""Serving the Slack app over HTTP: inside `ratecard serve` (embedded) or alone (`ratecard bot`).

Either way the bot reaches the service only through its REST API (`ServiceClient`), over loopback
HTTP in the embedded mode, so the same code runs when the bot lives on another host.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from starlette.types import Message

from bot.app import RatecardBoltApp, create_bolt_app
from bot.signature import signature_problem
from service.client import ServiceClient
from service.settings import Settings

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
# Slack's requests here are small: a slash command is a form of a dozen short fields plus the
# typed text (Slack caps a message at 40,000 characters, and commands are one line in practice);
# a button click carries the message it was clicked on, and those are ours, a launch preview of a
# few KB. 64 KiB is ten times what the bot ever receives, even with url-encoding inflating JSON
# up to threefold; the service's 16 MiB limit is for estimate bodies, and a forged request would
# otherwise be read (and HMAC'd) at that size before its signature could be refused.
MAX_SLACK_BODY_BYTES = 64 * 1024


def slack_configured(settings: Settings) -> bool:
    return settings.slack_signing_secret is not None and settings.slack_bot_token is not None


def mount_slack(
    app: FastAPI,
    settings: Settings,
    *,
    service_url: str,
    service_api_key: str,
    wall_clock: Callable[[], float] = time.time,
    default_team: str | None = None,
) -> RatecardBoltApp:
    """Add POST /slack/events to `app`; its tasks are drained when `app` stops."""
    if settings.slack_signing_secret is None:
        raise ValueError("RATECARD_SLACK_SIGNING_SECRET is required to serve Slack over HTTP")
    secret = settings.slack_signing_secret.get_secret_value()
    client = ServiceClient(service_url, service_api_key, user_agent="ratecard-slack-bot")
    bolt = create_bolt_app(
        settings, client, default_team=default_team or settings.slack_default_team
    )
    handler = AsyncSlackRequestHandler(bolt)

    async def slack_events(request: Request) -> Response:
        body = await _body_within(request, MAX_SLACK_BODY_BYTES)
        if body is None:
            log.info("refused a Slack request over %s bytes", MAX_SLACK_BODY_BYTES)
            return JSONResponse(
                {
                    "type": "about:blank",
                    "title": "Content Too Large",
                    "status": 413,
                    "detail": f"Slack requests are limited to {MAX_SLACK_BODY_BYTES:,} bytes",
                },
                status_code=413,
                media_type="application/problem+json",
            )
        problem = signature_problem(secret, request.headers, body, now=wall_clock())
        if problem is not None:
            # Never log the body or the signature: neither helps, and bodies carry user text.
            log.info("refused a Slack request: %s", problem)
            return JSONResponse({"error": "invalid request"}, status_code=401)
        return await handler.handle(_replaying(request, body))

    app.add_api_route(EVENTS_PATH, slack_events, methods=["POST"], include_in_schema=False)
    _close_with(app, bolt)
    app.state.slack_bot = bolt
    return bolt


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` (declared or as it arrives)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _replaying(request: Request, body: bytes) -> Request:
    """`request` again, its consumed stream replaced by `body`, for bolt to read."""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def _close_with(app: FastAPI, bolt: RatecardBoltApp) -> None:
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with previous(a) as state:
            try:
                yield state
            finally:
                await bolt.aclose()

    app.router.lifespan_context = lifespan


def build_bot_http_app(settings: Settings) -> FastAPI:
    """`ratecard bot`: the Slack endpoint alone, calling the service at RATECARD_SERVICE_URL."""
    if settings.service_api_key is None:
        raise ValueError(
            "RATECARD_SERVICE_API_KEY is required: create a key with scopes read, estimate "
            "and launch (POST /v1/keys) for the bot"
        )
    app = FastAPI(title="ratecard Slack bot", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    mount_slack(
        app,
        settings,
        service_url=settings.service_url,
        service_api_key=settings.service_api_key.get_secret_value(),
    )
    return app


class SocketModeError(Exception):
    """Socket Mode could not start: Slack refused the app token, or could not be reached."""


# Slack's answers to apps.connections.open that mean the token itself is wrong.
_REFUSED_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "account_inactive"}
)
# The first connection must be up within this; slack_sdk would retry a failing one for ever.
CONNECT_TIMEOUT = 30.0
# SIGTERM to exit within `docker stop`'s default 10 s grace: the WebSocket close, then the drain.
CLOSE_TIMEOUT = 3.0
DRAIN_TIMEOUT = 6.0


async def run_socket_mode(settings: Settings) -> None:
    """`ratecard bot --socket-mode`: no public URL; Slack delivers over a WebSocket.

    Runs until SIGTERM (returns) or SIGINT (KeyboardInterrupt), also while still connecting;
    either way it disconnects from Slack first, so no new command arrives, then lets the
    commands in flight finish.
    """
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    if settings.slack_app_token is None:
        raise ValueError("RATECARD_SLACK_APP_TOKEN (xapp-...) is required for Socket Mode")
    if settings.service_api_key is None:
        raise ValueError(
            "RATECARD_SERVICE_API_KEY is required: the bot calls the service's REST API"
        )
    client = ServiceClient(
        settings.service_url,
        settings.service_api_key.get_secret_value(),
        user_agent="ratecard-slack-bot",
    )
    bolt = create_bolt_app(settings, client, default_team=settings.slack_default_team)
    handler = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    sigterm_handled = False
    try:
        try:
            loop.add_signal_handler(signal.SIGTERM, stopped.set)
            sigterm_handled = True
        except (NotImplementedError, RuntimeError):  # no Unix signals here: SIGINT only
            log.debug("SIGTERM is not handled on this platform")
        # The first connection is made here, bounded and interruptible: slack_sdk would log a
        # refused token or an unreachable WebSocket and retry it every 10 s for ever. Later
        # reconnects are slack_sdk's.
        if not await _until_stopped(_connect(handler, settings), stopped):
            log.info("connected to Slack in Socket Mode")
            await stopped.wait()
        log.info("SIGTERM: disconnecting from Slack")
    finally:
        if sigterm_handled:
            loop.remove_signal_handler(signal.SIGTERM)
        try:
            await asyncio.wait_for(handler.close_async(), CLOSE_TIMEOUT)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("Socket Mode connection not closed cleanly: %s", exc)
        finally:
            await bolt.aclose(timeout=DRAIN_TIMEOUT)


async def _until_stopped(work: Awaitable[None], stopped: asyncio.Event) -> bool:
    """Run `work` until it is done or `stopped` is set (then cancel it); True if stopped."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, waiter):
            pending.cancel()
    if task.done() and not task.cancelled():
        task.result()  # its error, if any
        return False
    return True


async def _connect(handler: Any, settings: Settings) -> None:
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        response = await handler.client.web_client.apps_connections_open(
            app_token=handler.client.app_token
        )
    except SlackApiError as exc:
        data = exc.response.data
        error = data.get("error") if isinstance(data, dict) else None
        if error in _REFUSED_TOKEN:
            raise SocketModeError(
                f"Slack refused RATECARD_SLACK_APP_TOKEN ({error}): it must be an app-level "
                "token (xapp-...) with the connections:write scope"
            ) from exc
        answer = error or f"HTTP {exc.response.status_code}"
        raise SocketModeError(
            f"Slack at {settings.slack_api_url} would not open a Socket Mode connection ({answer})"
        ) from exc
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise SocketModeError(f"could not reach Slack at {settings.slack_api_url}: {exc}") from exc
    handler.client.wss_uri = response["url"]
    try:
        await asyncio.wait_for(handler.connect_async(), CONNECT_TIMEOUT)
    except TimeoutError as exc:
        raise SocketModeError(
            f"could not open Slack's Socket Mode WebSocket within {CONNECT_TIMEOUT:g} s"
        ) from exc
