"""Sending one alert to Slack or to a webhook, and classifying what happened.

Every failure is sorted into one of: try again later (rate limits, 5xx, timeouts, connection
errors), failed for good (Slack ``ok: false`` such as ``not_in_channel``, webhook 4xx), or
disable the subscription (webhook 410 Gone). Nothing here touches the database.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from standardwebhooks import Webhook

from service.alerts.messages import SlackMessage
from service.alerts.urlpolicy import ForbiddenUrl, UnresolvableHost

log = logging.getLogger(__name__)

# Slack ok:false errors worth another try; every other error code is a fact about the request
# (not_in_channel, channel_not_found, is_archived, invalid_auth, ...) and would fail again.
SLACK_TRANSIENT_ERRORS = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
    }
)
USER_AGENT = "ratecard-alerts/0.1 (+Standard Webhooks)"


@dataclass(frozen=True)
class Outcome:
    result: Literal["delivered", "retry", "failed", "disabled"]
    detail: str | None = None
    retry_after_seconds: float | None = None  # the receiver's own Retry-After, when it gave one


def send_slack(
    *, channel: str, message: SlackMessage, base_url: str, token: str | None, timeout_seconds: float
) -> Outcome:
    if not token:
        return Outcome("failed", "no Slack bot token configured (RATECARD_SLACK_BOT_TOKEN)")
    # retry_handlers=[]: the dispatcher owns retries, so a 429 reschedules the row instead of
    # blocking a worker, and a connection error is not silently re-sent.
    client = WebClient(
        token=token,
        base_url=base_url,
        timeout=max(1, math.ceil(timeout_seconds)),
        retry_handlers=[],
    )
    try:
        response = client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as exc:
        status = exc.response.status_code
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        if status == 429:
            wait = _retry_after(exc.response.headers) or 1.0
            return Outcome(
                "retry", f"Slack rate limit (429), retry after {wait:g}s", retry_after_seconds=wait
            )
        if status >= 500 or error in SLACK_TRANSIENT_ERRORS:
            return Outcome("retry", f"Slack error {status}: {error}")
        return Outcome("failed", f"Slack refused the message: {error}")
    except (OSError, ValueError) as exc:  # urllib's URLError, timeouts, resets; undecodable replies
        return Outcome("retry", f"Slack unreachable: {type(exc).__name__}: {exc}")
    return Outcome("delivered", f"ts {response.get('ts')}")


def webhook_body(*, kind: str, created_at: datetime, payload: dict[str, Any]) -> bytes:
    """The Standard Webhooks envelope; identical bytes on every retry of one alert."""
    envelope = {
        "type": kind,
        "timestamp": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def sign_headers(*, secret: str, webhook_id: str, body: bytes, at: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id=webhook_id, timestamp=at, data=body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": signature,
    }


def send_webhook(
    *, client: httpx.Client, url: str, secret: str, webhook_id: str, body: bytes
) -> Outcome:
    """POST one signed alert. `client` must use VettedTransport: it vets the address it connects
    to, at send time. The receiver's reply body is never read or kept: the delivery log is shown
    to read keys, and a receiver's words (or an internal page it proxies) are not ours to show."""
    headers = {
        # Signed with the wall clock at send time: receivers reject timestamps older than minutes.
        **sign_headers(secret=secret, webhook_id=webhook_id, body=body, at=datetime.now(UTC)),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    request = client.build_request("POST", url, content=body, headers=headers)
    try:
        response = client.send(request, stream=True)
    except ForbiddenUrl as exc:
        return Outcome("failed", f"webhook URL refused at send time: {exc}")
    except UnresolvableHost as exc:
        return Outcome("retry", str(exc))
    except httpx.TimeoutException:
        return Outcome("retry", f"timed out after {client.timeout.read}s")
    except httpx.TransportError as exc:
        # The details (refused, TLS, reset) go to the operator's log, not to the delivery log.
        log.warning("webhook to %s: %s: %s", request.url.host, type(exc).__name__, exc)
        return Outcome("retry", f"connection error ({type(exc).__name__})")
    response.close()
    status = response.status_code
    said = f"receiver answered {_status_text(status)}"
    if 200 <= status < 300:
        return Outcome("delivered", f"HTTP {status}")
    if status == 410:
        return Outcome("disabled", "receiver answered 410 Gone; subscription disabled")
    if status in (408, 425, 429) or status >= 500:
        return Outcome("retry", said, retry_after_seconds=_retry_after(response.headers))
    if 300 <= status < 400:
        return Outcome("failed", f"{said} (redirects are not followed)")
    return Outcome("failed", said)


def _status_text(status: int) -> str:
    """The status and its standard phrase: our words, never the receiver's reason or body."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                seconds = float(str(raw).strip())
            except ValueError:
                return None  # an HTTP date; fall back to our own backoff
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None
