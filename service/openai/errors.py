"""Typed failures of the OpenAI client.

Callers branch on the class, never on message text:

- ``OpenAIUnavailable``: transient trouble (rate limit, 5xx, timeouts, connection loss) that
  outlasted the retries. Try again later.
- ``OpenAIQuotaExceeded``: the organisation is out of credit or over its spend limit. Retrying
  cannot help until someone pays, so it is never retried and must be reported as such.
- ``OpenAIAuthError`` (401), ``OpenAINotFound`` (404), ``OpenAIRequestRejected`` (any other
  4xx): OpenAI refused the request; ``message`` is OpenAI's text, verbatim, fit to show a user.
- ``OpenAIProtocolError``: a response we cannot understand (not JSON, wrong shape).
- ``OpenAICreateOutcomeUnknown``: a job creation may or may not have happened upstream.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "OpenAIAPIError",
    "OpenAIAuthError",
    "OpenAICreateOutcomeUnknown",
    "OpenAIError",
    "OpenAINotFound",
    "OpenAIProtocolError",
    "OpenAIQuotaExceeded",
    "OpenAIRequestRejected",
    "OpenAIUnavailable",
]


class OpenAIError(Exception):
    """Root of every error the OpenAI client raises."""


class OpenAIAPIError(OpenAIError):
    """OpenAI answered with an error response; the fields are copied from its error object."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        type: str | None = None,  # mirrors the field name in OpenAI's error object
        param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        # x-request-id is what OpenAI support asks for; keep it for logs and bug reports.
        self.request_id = request_id

    def __str__(self) -> str:
        detail = ", ".join(
            f"{name}={value}"
            for name, value in (("code", self.code), ("param", self.param))
            if value
        )
        suffix = f" ({detail})" if detail else ""
        return f"HTTP {self.status}: {self.message}{suffix}"


class OpenAIRequestRejected(OpenAIAPIError):
    """A 4xx other than 401/404/quota: the request itself was refused (bad model, bad file...)."""


class OpenAIAuthError(OpenAIAPIError):
    """401: the API key (or organisation/project header) was not accepted."""


class OpenAINotFound(OpenAIAPIError):
    """404: the file or job does not exist (or is not visible to this key)."""


class OpenAIQuotaExceeded(OpenAIAPIError):
    """Out of credit or over a billing/spend limit (e.g. 429 ``insufficient_quota``).

    Never retried: waiting does not restore quota, and retrying would only hide the cause.
    """


class OpenAIUnavailable(OpenAIError):
    """Transient failures persisted through every retry."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        last_status: int | None = None,
        last_error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_status = last_status
        self.last_error = last_error


class OpenAIProtocolError(OpenAIError):
    """A response that is not the JSON shape the API documents."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OpenAICreateOutcomeUnknown(OpenAIError):
    """A create-job request may have reached OpenAI, but we never saw the answer.

    OpenAI has no idempotency key for job creation, so the client does not retry: a retry could
    start (and bill) a second job. The caller must reconcile by listing jobs filtered by the
    ``metadata`` it sent (``OpenAIClient.list_jobs(metadata=...)``) before trying again.
    """

    def __init__(self, message: str, *, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.metadata: dict[str, str] = dict(metadata or {})
