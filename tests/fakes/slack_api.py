"""A loopback fake of the Slack Web API methods ratecard uses, for tests and the demo.

It speaks Slack's wire protocol: ``POST {base}/api/<method>`` with a JSON or form-encoded body
(``blocks`` as a JSON string in forms), the token as ``Authorization: Bearer xoxb-...`` or a
``token`` form field, and answers HTTP 200 with ``{"ok": true, ...}`` or ``{"ok": false,
"error": "..."}``; rate limits are HTTP 429 with ``Retry-After`` and ``{"ok": false, "error":
"ratelimited"}``. Point slack_sdk at it with ``WebClient(base_url=f"{root}/api/")``.

Methods: ``chat.postMessage``, ``chat.postEphemeral``, ``chat.update``, ``auth.test``,
``apps.connections.open`` (Socket Mode, below); any other method answers ``unknown_method``.
Every call is recorded in ``state.calls``; messages posted with ``chat.postMessage`` also in
``state.messages``.

Test hooks (thread-safe; the app runs in uvicorn's thread):
- ``state.fail_next(error="not_in_channel", times=1)``: the next chat calls answer ``ok: false``.
- ``state.rate_limit_next(retry_after=1, times=1)``: the next chat calls answer 429.
- ``state.token``: the bot token expected (None accepts any non-empty token).
- Both hooks take ``method=`` to target one method, e.g. ``apps.connections.open``.

Socket Mode, as Slack speaks it (``ratecard bot --socket-mode``):
- ``apps.connections.open`` takes the app-level token (``Authorization: Bearer xapp-...``; none is
  ``not_authed``, a bot or user token ``not_allowed_token_type``, an xapp- token other than
  ``state.app_token`` ``invalid_auth``) and answers ``{"ok": true, "url":
  "ws://<this host>/link/?ticket=...&app_id=..."}``. A ticket opens one WebSocket; an unknown or
  used ticket is refused at the handshake (HTTP 403). App-level tokens are refused by every other
  method (``not_allowed_token_type``).
- On connect the fake sends ``{"type": "hello", "num_connections": N, "debug_info": {...},
  "connection_info": {"app_id": ...}}``, then whatever the test pushes, in order, to the newest
  open connection: ``state.push_envelope(type, payload)`` (``slash_commands`` with
  ``accepts_response_payload: true``; ``events_api`` with ``retry_attempt``/``retry_reason``),
  ``state.push_slash_command(fields)``, ``state.push_disconnect(reason)`` (``{"type":
  "disconnect", "reason": "refresh_requested", ...}``, after which a client opens a new
  connection). Every text message the client sends is kept in ``state.socket_messages``; those
  with an ``envelope_id`` are acknowledgements, in ``state.socket_acks`` (``payload`` is None
  when the ack carried none). ``state.wait_for_socket()`` and ``state.wait_for_ack(id)`` block
  (with a timeout) until a connection is open / an envelope is acknowledged;
  ``state.socket_close_codes`` says how each connection ended (1000: the client closed it; 1005
  or 1006, as uvicorn reports it: dropped without a close frame); ``state.close_socket()`` closes
  one from Slack's side (1001).

Run it: ``python -m tests.fakes.slack_api --port 8766 [--token xoxb-...] [--app-token
xapp-...]``; ``GET /_fake/messages`` lists what was posted; ``POST /_fake/socket_mode/envelopes``
(``{"type": ..., "payload": {...}}``) pushes an envelope and ``GET /_fake/socket_mode/acks``
lists the acknowledgements.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.slack_socket_mode import (
    SOCKET_PATH,
    SentEnvelope,
    SocketAck,
    SocketConnection,
    SocketModeMixin,
    add_socket_mode_routes,
)

__all__ = [
    "FakeSlackState",
    "RecordedCall",
    "SentEnvelope",
    "SocketAck",
    "create_fake_slack_app",
    "main",
]

log = logging.getLogger(__name__)
CHAT_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.update"})
CONNECTIONS_OPEN = "apps.connections.open"


@dataclass(frozen=True)
class RecordedCall:
    method: str
    args: dict[str, Any]  # the decoded body; `blocks` always a list when present
    content_type: str
    response: dict[str, Any]
    status_code: int


@dataclass
class _Fault:
    status_code: int
    error: str
    retry_after: float | None
    times: int
    method: str | None


@dataclass
class FakeSlackState(SocketModeMixin):
    token: str | None = None
    team_id: str = "T0FAKE"
    bot_user_id: str = "U0FAKEBOT"
    app_token: str | None = None  # the xapp- token apps.connections.open expects (None: any xapp-)
    app_id: str = "A0FAKEAPP"
    calls: list[RecordedCall] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    socket_envelopes: list[SentEnvelope] = field(default_factory=list)
    socket_acks: list[SocketAck] = field(default_factory=list)
    socket_messages: list[dict[str, Any]] = field(default_factory=list)  # all the client sent
    socket_connections: int = 0  # WebSocket connections ever opened
    socket_close_codes: dict[int, int] = field(default_factory=dict)  # connection -> close code
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts_counter: int = 0
    _tickets: set[str] = field(default_factory=set)
    _sockets: dict[int, SocketConnection] = field(default_factory=dict)
    _changed: threading.Condition = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def fail_next(
        self, *, error: str = "not_in_channel", times: int = 1, method: str | None = None
    ) -> None:
        """The next `times` chat calls (or calls of `method`) answer HTTP 200 ``ok: false``."""
        with self._lock:
            self._faults.append(_Fault(200, error, None, times, method))

    def rate_limit_next(
        self, *, retry_after: float = 1, times: int = 1, method: str | None = None
    ) -> None:
        """The next `times` chat calls (or calls of `method`) answer 429 with ``Retry-After``."""
        with self._lock:
            self._faults.append(_Fault(429, "ratelimited", retry_after, times, method))

    def messages_to(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["channel"] == channel]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self._faults.clear()
            self.socket_envelopes.clear()
            self.socket_acks.clear()
            self.socket_messages.clear()

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                applies = fault.method == method if fault.method else method in CHAT_METHODS
                if applies and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _next_ts(self) -> str:
        with self._lock:
            self._ts_counter += 1
            return f"{int(time.time())}.{self._ts_counter:06d}"

    def _record(self, call: RecordedCall, message: dict[str, Any] | None) -> None:
        with self._lock:
            self.calls.append(call)
            if message is not None:
                self.messages.append(message)


def _decode_blocks(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def _read_args(request: Request) -> tuple[dict[str, Any], str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    args: dict[str, Any] = {}
    if content_type == "application/json":
        try:
            decoded = json.loads(raw or b"{}")
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise ValueError("invalid_json")
        args = decoded
    elif raw:
        args = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    args.update({k: v for k, v in request.query_params.items() if k not in args})
    for key in ("blocks", "attachments", "metadata"):
        if key in args:
            args[key] = _decode_blocks(args[key])
    return args, content_type


def _token(request: Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = args.pop("token", None)
    return str(token) if token else None


def create_fake_slack_app(state: FakeSlackState | None = None) -> FastAPI:
    app = FastAPI(title="fake Slack Web API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = state or FakeSlackState()

    def current() -> FakeSlackState:
        fake: FakeSlackState = app.state.fake  # tests may swap the state between cases
        return fake

    @app.get("/_fake/messages")
    def list_messages() -> list[dict[str, Any]]:
        with current()._lock:
            return list(current().messages)

    add_socket_mode_routes(app, current)

    @app.post("/api/{method}")
    async def api_method(method: str, request: Request) -> JSONResponse:
        fake = current()
        try:
            args, content_type = await _read_args(request)
        except ValueError:
            return _answer(fake, method, {}, "", {"ok": False, "error": "invalid_json"})
        token = _token(request, args)
        if token is None:
            return _answer(fake, method, args, content_type, {"ok": False, "error": "not_authed"})
        if method == CONNECTIONS_OPEN:
            return _connections_open(fake, request, token, args, content_type)
        if token.startswith("xapp-"):
            # App-level tokens open Socket Mode connections and nothing else.
            refusal = {"ok": False, "error": "not_allowed_token_type"}
            return _answer(fake, method, args, content_type, refusal)
        if fake.token is not None and token != fake.token:
            return _answer(fake, method, args, content_type, {"ok": False, "error": "invalid_auth"})
        fault = fake._take_fault(method)
        if fault is not None:
            return _fault_answer(fake, method, args, content_type, fault)
        if method == "auth.test":
            return _answer(
                fake,
                method,
                args,
                content_type,
                {
                    "ok": True,
                    "url": "https://fake.slack.com/",
                    "team": "Fake",
                    "user": "ratecard",
                    "team_id": fake.team_id,
                    "user_id": fake.bot_user_id,
                    "bot_id": "B0FAKE",
                },
            )
        if method not in CHAT_METHODS:
            return _answer(
                fake, method, args, content_type, {"ok": False, "error": "unknown_method"}
            )
        channel = str(args.get("channel") or "")
        if not channel:
            return _answer(
                fake, method, args, content_type, {"ok": False, "error": "channel_not_found"}
            )
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return _answer(fake, method, args, content_type, {"ok": False, "error": "no_text"})
        blocks = args.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            return _answer(
                fake, method, args, content_type, {"ok": False, "error": "invalid_blocks"}
            )
        ts = str(args.get("ts")) if method == "chat.update" and args.get("ts") else fake._next_ts()
        message = {
            "channel": channel,
            "text": args.get("text"),
            "blocks": blocks,
            "ts": ts,
            "thread_ts": args.get("thread_ts"),
            "user": args.get("user"),
            "method": method,
        }
        body: dict[str, Any] = {"ok": True, "channel": channel, "ts": ts}
        if method == "chat.postEphemeral":
            body = {"ok": True, "message_ts": ts}
        else:
            body["message"] = {
                "type": "message",
                "text": args.get("text") or "",
                "ts": ts,
                "bot_id": "B0FAKE",
                **({"blocks": blocks} if blocks else {}),
            }
        recorded = message if method == "chat.postMessage" else None
        return _answer(fake, method, args, content_type, body, message=recorded)

    return app


def _connections_open(
    fake: FakeSlackState, request: Request, token: str, args: dict[str, Any], content_type: str
) -> JSONResponse:
    method = CONNECTIONS_OPEN
    if not token.startswith("xapp-"):
        refusal = {"ok": False, "error": "not_allowed_token_type"}
        return _answer(fake, method, args, content_type, refusal)
    if fake.app_token is not None and token != fake.app_token:
        return _answer(fake, method, args, content_type, {"ok": False, "error": "invalid_auth"})
    fault = fake._take_fault(method)
    if fault is not None:
        return _fault_answer(fake, method, args, content_type, fault)
    scheme = "wss" if request.url.scheme == "https" else "ws"
    query = urlencode({"ticket": fake._issue_ticket(), "app_id": fake.app_id})
    url = f"{scheme}://{request.url.netloc}{SOCKET_PATH}?{query}"
    return _answer(fake, method, args, content_type, {"ok": True, "url": url})


def _fault_answer(
    fake: FakeSlackState, method: str, args: dict[str, Any], content_type: str, fault: _Fault
) -> JSONResponse:
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    return _answer(
        fake,
        method,
        args,
        content_type,
        {"ok": False, "error": fault.error},
        status_code=fault.status_code,
        headers=headers,
    )


def _answer(
    state: FakeSlackState,
    method: str,
    args: dict[str, Any],
    content_type: str,
    body: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    message: dict[str, Any] | None = None,
) -> JSONResponse:
    state._record(
        RecordedCall(
            method=method,
            args=args,
            content_type=content_type,
            response=body,
            status_code=status_code,
        ),
        message,
    )
    return JSONResponse(body, status_code=status_code, headers=headers)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the fake Slack Web API on a loopback port.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default=None, help="bot token to require (default: accept any)")
    parser.add_argument(
        "--app-token", default=None, help="xapp- token to require for Socket Mode (default: any)"
    )
    args = parser.parse_args(argv)
    app = create_fake_slack_app(FakeSlackState(token=args.token, app_token=args.app_token))
    logging.basicConfig(level=logging.INFO)
    log.info("fake Slack Web API at http://%s:%s/api/", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
