"""Slack request signatures, checked before bolt sees a request.

bolt's own check turns a malformed `X-Slack-Request-Timestamp` into an unhandled ValueError (a 500)
and decodes the body before verifying it; this check answers every bad request with a 401 first.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

MAX_AGE_SECONDS = 5 * 60
VERSION = "v0"


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signature_problem(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float
) -> str | None:
    """Why a request is not from Slack, or None when its signature is good and fresh."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        return "missing signature headers"
    # Digits only (no sign, no spaces, no exponent) and a sane length: int() would accept " 1_0".
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "malformed timestamp"
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return "stale timestamp"
    # Compared as bytes: compare_digest raises on non-ASCII str, and headers can carry any latin-1.
    given = signature.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(expected_signature(secret, timestamp, body).encode(), given):
        return "signature mismatch"
    return None
