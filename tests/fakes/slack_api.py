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
import asyncio
import contextlib
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse

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
SOCKET_PATH = "/link/"


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


@dataclass(frozen=True)
class SentEnvelope:
    """An envelope the fake pushed (or queued) to a Socket Mode connection."""

    envelope_id: str
    type: str
    connection: int
    pushed_at: float  # time.monotonic()


@dataclass(frozen=True)
class SocketAck:
    """``{"envelope_id": ..., "payload": ...}`` as a Socket Mode client sent it back."""

    envelope_id: str
    payload: dict[str, Any] | None  # None: the ack carried no payload
    connection: int
    received_at: float  # time.monotonic()


@dataclass
class _Socket:
    id: int
    loop: asyncio.AbstractEventLoop
    outbox: asyncio.Queue[str | None]  # None closes the connection


@dataclass
class FakeSlackState:
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
    _sockets: dict[int, _Socket] = field(default_factory=dict)
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

    # -- Socket Mode: test hooks (any thread) -----------------------------------------------------

    @property
    def open_sockets(self) -> int:
        with self._lock:
            return len(self._sockets)

    def wait_for_socket(self, *, opened: int = 1, timeout: float = 10) -> int:
        """Until `opened` connections have ever been opened and one is open; returns the newest."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: self.socket_connections >= opened and bool(self._sockets), timeout
            ):
                raise TimeoutError(
                    f"no Socket Mode connection within {timeout}s "
                    f"({self.socket_connections} opened so far, {len(self._sockets)} open)"
                )
            return max(self._sockets)

    def push_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        connection: int | None = None,
    ) -> str:
        """Send an envelope to `connection` (default: the newest open one); returns its id.

        Shapes as Slack sends them: ``slash_commands`` accept a response payload; ``events_api``
        carry ``retry_attempt`` and ``retry_reason``; ``interactive`` accept one only for
        ``view_submission`` and ``block_suggestion``.
        """
        envelope_id = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive"
                and payload.get("type") in ("view_submission", "block_suggestion")
            )
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api" or retry_attempt is not None or retry_reason is not None:
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        with self._lock:
            socket = self._socket(connection)
            self.socket_envelopes.append(
                SentEnvelope(envelope_id, type, socket.id, time.monotonic())
            )
        socket.loop.call_soon_threadsafe(socket.outbox.put_nowait, json.dumps(envelope))
        return envelope_id

    def push_slash_command(self, fields: dict[str, str], *, connection: int | None = None) -> str:
        """A slash command over Socket Mode: its form fields as one JSON object."""
        return self.push_envelope("slash_commands", dict(fields), connection=connection)

    def push_disconnect(
        self, reason: str = "refresh_requested", *, connection: int | None = None
    ) -> None:
        """Slack's notice that it will close this connection: the client should open another."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        with self._lock:
            socket = self._socket(connection)
        socket.loop.call_soon_threadsafe(socket.outbox.put_nowait, json.dumps(message))

    def close_socket(self, connection: int | None = None) -> None:
        """Close a connection from Slack's side (code 1001), without notice."""
        with self._lock:
            socket = self._socket(connection)
        socket.loop.call_soon_threadsafe(socket.outbox.put_nowait, None)

    def wait_for_ack(self, envelope_id: str, *, timeout: float = 10) -> SocketAck:
        """The first acknowledgement of `envelope_id`, waiting up to `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: any(a.envelope_id == envelope_id for a in self.socket_acks), timeout
            ):
                raise TimeoutError(f"envelope {envelope_id} was not acknowledged in {timeout}s")
            return next(a for a in self.socket_acks if a.envelope_id == envelope_id)

    def acks_for(self, envelope_id: str) -> list[SocketAck]:
        with self._lock:
            return [a for a in self.socket_acks if a.envelope_id == envelope_id]

    def envelope(self, envelope_id: str) -> SentEnvelope:
        with self._lock:
            return next(e for e in self.socket_envelopes if e.envelope_id == envelope_id)

    # -- Socket Mode: the server's side (uvicorn's thread) ----------------------------------------

    def _socket(self, connection: int | None) -> _Socket:
        """Call with the lock held."""
        if not self._sockets:
            raise RuntimeError("no Socket Mode connection is open")
        key = max(self._sockets) if connection is None else connection
        if key not in self._sockets:
            raise RuntimeError(f"Socket Mode connection {key} is not open")
        return self._sockets[key]

    def _issue_ticket(self) -> str:
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        return ticket

    def _redeem_ticket(self, ticket: str) -> bool:
        with self._lock:
            if ticket not in self._tickets:
                return False
            self._tickets.discard(ticket)
            return True

    def _socket_opened(self, loop: asyncio.AbstractEventLoop) -> _Socket:
        """Register a new connection, its outbox already holding Slack's hello message."""
        with self._changed:
            self.socket_connections += 1
            socket = _Socket(self.socket_connections, loop, asyncio.Queue())
            hello = {
                "type": "hello",
                "num_connections": len(self._sockets) + 1,
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
            socket.outbox.put_nowait(json.dumps(hello))  # first, whatever is pushed after
            self._sockets[socket.id] = socket
            self._changed.notify_all()
            return socket

    def _socket_closed(self, socket_id: int, code: int) -> None:
        with self._changed:
            self._sockets.pop(socket_id, None)
            self.socket_close_codes[socket_id] = code
            self._changed.notify_all()

    def _socket_received(self, socket_id: int, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = {"unparsed": text}
        if not isinstance(message, dict):
            message = {"unparsed": text}
        with self._changed:
            self.socket_messages.append(message)
            if isinstance(message.get("envelope_id"), str):
                payload = message.get("payload")
                self.socket_acks.append(
                    SocketAck(
                        envelope_id=message["envelope_id"],
                        payload=payload if isinstance(payload, dict) else None,
                        connection=socket_id,
                        received_at=time.monotonic(),
                    )
                )
            self._changed.notify_all()

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

    @app.post("/_fake/socket_mode/envelopes")
    async def push_envelope(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            envelope_id = current().push_envelope(str(body["type"]), dict(body["payload"]))
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"ok": False, "error": f"invalid envelope: {exc}"}, 400)
        except RuntimeError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, 409)
        return JSONResponse({"ok": True, "envelope_id": envelope_id})

    @app.get("/_fake/socket_mode/acks")
    def list_acks() -> list[dict[str, Any]]:
        with current()._lock:
            return [
                {"envelope_id": a.envelope_id, "payload": a.payload, "connection": a.connection}
                for a in current().socket_acks
            ]

    @app.websocket(SOCKET_PATH)
    async def socket_mode(websocket: WebSocket) -> None:
        fake = current()
        if not fake._redeem_ticket(websocket.query_params.get("ticket", "")):
            # Before accept: uvicorn answers the handshake with HTTP 403, as Slack refuses an
            # unknown or reused ticket.
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
            return
        await websocket.accept()
        socket = fake._socket_opened(asyncio.get_running_loop())
        socket_id = socket.id
        sender = asyncio.create_task(_send_outbox(websocket, socket.outbox))
        close_code = status.WS_1006_ABNORMAL_CLOSURE
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    close_code = int(message.get("code", close_code))
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                if text:
                    fake._socket_received(socket_id, text)
        except WebSocketDisconnect as exc:
            close_code = exc.code
        except RuntimeError:
            pass
        finally:
            fake._socket_closed(socket_id, close_code)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

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


async def _send_outbox(websocket: WebSocket, outbox: asyncio.Queue[str | None]) -> None:
    while True:
        text = await outbox.get()
        if text is None:
            await websocket.close(code=status.WS_1001_GOING_AWAY)
            return
        await websocket.send_text(text)


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
