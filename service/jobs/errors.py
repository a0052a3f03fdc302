"""Refusals of the jobs feature. Each carries a machine-readable ``code`` in the problem body."""

from __future__ import annotations

from typing import Any

from service.errors import Conflict, InvalidInput, ServiceError, Unavailable, UpstreamError
from service.openai import (
    OpenAIAuthError,
    OpenAIError,
    OpenAINotFound,
    OpenAIProtocolError,
    OpenAIQuotaExceeded,
    OpenAIRequestRejected,
    OpenAIUnavailable,
)


class OverBudget(Conflict):
    title = "Over the team's monthly training budget"


class FineTuningClosed(Conflict):
    title = "OpenAI does not accept this fine-tuning job on this date"


class FormatErrors(InvalidInput):
    title = "Training file has format errors"


class TooFewExamples(InvalidInput):
    title = "Too few training examples"


class InsufficientQuota(ServiceError):
    status, title = 402, "OpenAI quota exhausted"


class OpenAIRejected(InvalidInput):
    title = "OpenAI rejected the request"


class LaunchOutcomeUnknown(Unavailable):
    title = "Launch outcome unknown"


class OpenAINotConfigured(Unavailable):
    title = "OpenAI is not configured"


class IdempotencyKeyReused(InvalidInput):
    title = "Idempotency key reused with a different request"


def from_openai(exc: OpenAIError, *, doing: str) -> ServiceError:
    """The problem the caller sees for an OpenAI failure; OpenAI's message stays verbatim."""
    extra: dict[str, Any] = {}
    if isinstance(exc, OpenAIQuotaExceeded):
        return InsufficientQuota(exc.message, code="insufficient_quota", openai_code=exc.code)
    if isinstance(exc, OpenAIRequestRejected | OpenAINotFound):
        extra = {"openai_code": exc.code, "param": exc.param, "openai_status": exc.status}
        return OpenAIRejected(exc.message, code="openai_rejected", **extra)
    if isinstance(exc, OpenAIAuthError):
        # Our credentials, not the caller's mistake: never echo anything about the key.
        return UpstreamError(
            f"OpenAI did not accept ratecard's API key while {doing}; ask an admin to check "
            "RATECARD_OPENAI_API_KEY",
            code="openai_auth",
        )
    if isinstance(exc, OpenAIUnavailable):
        return Unavailable(
            f"OpenAI is unavailable ({doing}): {exc}; try again later", code="openai_unavailable"
        )
    if isinstance(exc, OpenAIProtocolError):
        return UpstreamError(
            f"OpenAI sent a response ratecard cannot read while {doing}", code="openai_protocol"
        )
    return UpstreamError(f"OpenAI request failed while {doing}: {exc}", code="openai_error")
