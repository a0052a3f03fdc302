"""Reading OpenAI's answers: error bodies, retry hints and the few value helpers the client uses."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from service.openai.errors import (
    OpenAIAPIError,
    OpenAIAuthError,
    OpenAIError,
    OpenAINotFound,
    OpenAIProtocolError,
    OpenAIRequestRejected,
)

# Codes (or types) that mean "no money left / spend limit hit". OpenAI sends
# insufficient_quota as a 429, which looks like a rate limit but never clears by waiting.
QUOTA_ERROR_CODES: frozenset[str] = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "spend_limit_reached",
        "hard_limit_reached",
    }
)

# A server hint longer than this is ignored in favour of our own backoff, so a bogus header
# cannot park a worker for an hour.
_MAX_RETRY_AFTER_SECONDS = 60.0
_ERROR_SNIPPET_CHARS = 500


class ErrorBody:
    """OpenAI's ``{"error": {...}}`` object, or the best we can say about a non-JSON body."""

    def __init__(
        self,
        *,
        status: int,
        message: str,
        code: str | None,
        type_: str | None,
        param: str | None,
        request_id: str | None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.type = type_
        self.param = param
        self.request_id = request_id

    def fields(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "type": self.type,
            "param": self.param,
            "request_id": self.request_id,
        }


def error_from_response(response: httpx.Response) -> ErrorBody:
    request_id = response.headers.get("x-request-id")
    error: object = None
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return ErrorBody(
            status=response.status_code,
            message=message if isinstance(message, str) and message else response.reason_phrase,
            code=str_or_none(error.get("code")),
            type_=str_or_none(error.get("type")),
            param=str_or_none(error.get("param")),
            request_id=request_id,
        )
    # Proxies and load balancers answer with HTML or plain text; keep a bounded excerpt.
    text = snippet(response.content) or response.reason_phrase
    return ErrorBody(
        status=response.status_code,
        message=text,
        code=None,
        type_=None,
        param=None,
        request_id=request_id,
    )


def is_quota_error(error: ErrorBody) -> bool:
    return error.code in QUOTA_ERROR_CODES or error.type in QUOTA_ERROR_CODES


def rejection(error: ErrorBody) -> OpenAIError:
    cls: type[OpenAIAPIError]
    if error.status == 401:
        cls = OpenAIAuthError
    elif error.status == 404:
        cls = OpenAINotFound
    elif 400 <= error.status < 500:
        cls = OpenAIRequestRejected
    else:
        # 1xx/3xx: we never follow redirects, and the API documents none.
        return OpenAIProtocolError(
            f"unexpected HTTP {error.status}: {error.message}", status=error.status
        )
    return cls(error.message, **error.fields())


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The wait OpenAI asks for, from ``retry-after-ms`` or ``retry-after``; None if absent."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            seconds = float(raw_ms) / 1000.0
        except ValueError:
            seconds = -1.0
        if 0 <= seconds <= _MAX_RETRY_AFTER_SECONDS:
            return seconds
    raw = headers.get("retry-after")
    if raw is not None:
        try:
            seconds = float(raw)
        except ValueError:
            # HTTP-date form.
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - time.time()
        if 0 <= seconds <= _MAX_RETRY_AFTER_SECONDS:
            return seconds
    return None


def segment(value: str) -> str:
    """Quote an id for use as one path segment (ids can come from user input)."""
    if not value:
        raise ValueError("id must be a non-empty string")
    return quote(value, safe="")


def snippet(body: bytes) -> str:
    return body[:_ERROR_SNIPPET_CHARS].decode("utf-8", errors="replace").strip()


def str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def metadata_of(json_body: Mapping[str, Any] | None) -> dict[str, str] | None:
    metadata = (json_body or {}).get("metadata")
    return metadata if isinstance(metadata, dict) else None
