"""A loopback webhook receiver that verifies Standard Webhooks signatures, for tests and the demo.

Every ``POST`` (any path) is recorded in ``state.deliveries`` with its ``webhook-id``,
``webhook-timestamp``, signature, raw body, parsed JSON and whether the signature verified
against the secret for that path (``state.secrets[path]``, else ``state.secret``). A request
that fails verification is answered 401 (as a real receiver would) and still recorded.

Test hooks (thread-safe):
- ``state.fail_next(times=2, status=503)``: the next requests answer that status.
- ``state.gone()``: every request from now on answers 410 Gone.
- ``state.delay_next(seconds=2, times=1)``: the next requests answer after a pause (timeouts).
- ``state.accepted()``: the verified deliveries that were answered 2xx.

Run it: ``python -m tests.fakes.webhook_receiver --port 8767 --secret whsec_...``; ``GET
/_fake/deliveries`` lists what arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["FakeWebhookState", "ReceivedWebhook", "create_webhook_receiver_app", "main"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    webhook_id: str | None
    timestamp: str | None
    signature: str | None
    body: bytes
    json: Any
    verified: bool
    verify_error: str | None
    status_code: int  # what the receiver answered


@dataclass
class FakeWebhookState:
    secret: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    deliveries: list[ReceivedWebhook] = field(default_factory=list)
    _failures: list[list[int]] = field(default_factory=list)  # [status, times left]
    _delays: list[list[float]] = field(default_factory=list)  # [seconds, times left]
    _gone: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *, times: int = 1, status: int = 503) -> None:
        with self._lock:
            self._failures.append([status, times])

    def delay_next(self, *, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._delays.append([seconds, times])

    def gone(self) -> None:
        with self._lock:
            self._gone = True

    def accepted(self) -> list[ReceivedWebhook]:
        with self._lock:
            return [d for d in self.deliveries if d.verified and 200 <= d.status_code < 300]

    def reset(self) -> None:
        with self._lock:
            self.deliveries.clear()
            self._failures.clear()
            self._delays.clear()
            self._gone = False

    def _secret_for(self, path: str) -> str | None:
        return self.secrets.get(path, self.secret)

    def _take(self, queue: list[list[Any]]) -> Any:
        with self._lock:
            if not queue:
                return None
            value, left = queue[0]
            if left <= 1:
                queue.pop(0)
            else:
                queue[0][1] = left - 1
            return value

    def _status(self) -> int:
        with self._lock:
            if self._gone:
                return 410
        failure = self._take(self._failures)
        return int(failure) if failure is not None else 200

    def _record(self, received: ReceivedWebhook) -> None:
        with self._lock:
            self.deliveries.append(received)


def create_webhook_receiver_app(state: FakeWebhookState | None = None) -> FastAPI:
    app = FastAPI(title="fake webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = state or FakeWebhookState()

    def current() -> FakeWebhookState:
        fake: FakeWebhookState = app.state.fake
        return fake

    @app.get("/_fake/deliveries")
    def list_deliveries() -> list[dict[str, Any]]:
        return [
            {
                "path": d.path,
                "webhook_id": d.webhook_id,
                "verified": d.verified,
                "status_code": d.status_code,
                "json": d.json,
            }
            for d in list(current().deliveries)
        ]

    @app.post("/{path:path}")
    async def receive(path: str, request: Request) -> Response:
        fake = current()
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = "/" + path
        secret = fake._secret_for(path)
        verified, error = False, None
        if secret is None:
            error = "no secret configured for this path"
        else:
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
                verified = True
            except (WebhookVerificationError, ValueError) as exc:
                error = str(exc) or type(exc).__name__
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        delay = fake._take(fake._delays)
        if delay:
            await asyncio.sleep(float(delay))
        status = fake._status() if verified else 401
        fake._record(
            ReceivedWebhook(
                path=path,
                webhook_id=headers.get("webhook-id"),
                timestamp=headers.get("webhook-timestamp"),
                signature=headers.get("webhook-signature"),
                body=body,
                json=parsed,
                verified=verified,
                verify_error=error,
                status_code=status,
            )
        )
        if status == 401:
            return JSONResponse({"error": "invalid signature", "detail": error}, status_code=401)
        if status >= 300:
            return JSONResponse({"error": f"fake failure {status}"}, status_code=status)
        return JSONResponse({"ok": True}, status_code=status)

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(
        description="Run a webhook receiver that verifies Standard Webhooks signatures."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--secret", required=True, help="whsec_... secret of the subscription")
    args = parser.parse_args(argv)
    app = create_webhook_receiver_app(FakeWebhookState(secret=args.secret))
    logging.basicConfig(level=logging.INFO)
    log.info("webhook receiver at http://%s:%s/", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
