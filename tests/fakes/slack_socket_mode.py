"""Socket Mode for the fake Slack (:mod:`tests.fakes.slack_api`): the WebSocket Slack opens
for ``apps.connections.open``'s URL, the envelopes a test pushes through it and the
acknowledgements the client sends back. The protocol is described in slack_api's docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from tests.fakes.slack_api import FakeSlackState

__all__ = [
    "SOCKET_PATH",
    "SentEnvelope",
    "SocketAck",
    "SocketConnection",
    "SocketModeMixin",
    "add_socket_mode_routes",
]

SOCKET_PATH = "/link/"


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
class SocketConnection:
    id: int
    loop: asyncio.AbstractEventLoop
    outbox: asyncio.Queue[str | None]  # None closes the connection


class SocketModeMixin:
    """Socket Mode's half of :class:`tests.fakes.slack_api.FakeSlackState` (which declares
    these attributes as dataclass fields)."""

    app_id: str
    socket_envelopes: list[SentEnvelope]
    socket_acks: list[SocketAck]
    socket_messages: list[dict[str, Any]]
    socket_connections: int
    socket_close_codes: dict[int, int]
    _lock: threading.Lock
    _changed: threading.Condition
    _tickets: set[str]
    _sockets: dict[int, SocketConnection]

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

    def _socket(self, connection: int | None) -> SocketConnection:
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

    def _socket_opened(self, loop: asyncio.AbstractEventLoop) -> SocketConnection:
        """Register a new connection, its outbox already holding Slack's hello message."""
        with self._changed:
            self.socket_connections += 1
            socket = SocketConnection(self.socket_connections, loop, asyncio.Queue())
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


def add_socket_mode_routes(app: FastAPI, current: Callable[[], FakeSlackState]) -> None:
    """The WebSocket endpoint and the ``/_fake/socket_mode`` admin routes."""

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


async def _send_outbox(websocket: WebSocket, outbox: asyncio.Queue[str | None]) -> None:
    while True:
        text = await outbox.get()
        if text is None:
            await websocket.close(code=status.WS_1001_GOING_AWAY)
            return
        await websocket.send_text(text)
