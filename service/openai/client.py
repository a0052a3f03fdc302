"""Async HTTP client for the OpenAI files and fine-tuning endpoints.

Independent of the database and of the service settings: the constructor takes plain values,
so the jobs feature, the watcher, the demo and the tests can each build one (tests point
``base_url`` at the loopback fake in :mod:`service.fakes.openai`).

Failure policy (see :mod:`service.openai.errors`):

- 429 ``rate_limit_exceeded``, 408/409, 5xx, connection failures and timeouts are retried with
  exponential backoff plus jitter, honouring ``retry-after-ms`` / ``retry-after``, up to
  ``max_retries`` times; then :class:`OpenAIUnavailable`.
- Quota and billing errors (429 ``insufficient_quota``, ``billing_hard_limit_reached``...) raise
  :class:`OpenAIQuotaExceeded` at once.
- Other 4xx raise :class:`OpenAIAuthError` (401), :class:`OpenAINotFound` (404) or
  :class:`OpenAIRequestRejected`, carrying OpenAI's message verbatim.
- A body that is not the documented JSON raises :class:`OpenAIProtocolError`.
- Job creation is never retried once the request may have been sent; see :meth:`create_job`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from service.observability.metrics import observe_openai
from service.openai.errors import (
    OpenAICreateOutcomeUnknown,
    OpenAIError,
    OpenAIProtocolError,
    OpenAIQuotaExceeded,
    OpenAIUnavailable,
)
from service.openai.models import (
    FineTuningJob,
    FineTuningJobEventPage,
    FineTuningJobPage,
    ModelList,
    OpenAIFile,
    OpenAIModel,
)
from service.openai.responses import (
    QUOTA_ERROR_CODES,
    error_from_response,
    is_quota_error,
    metadata_of,
    rejection,
    retry_after_seconds,
    segment,
    snippet,
)

__all__ = ["QUOTA_ERROR_CODES", "OpenAIClient"]

logger = logging.getLogger(__name__)

# 408 (request timeout) and 409 (lock conflict) are what OpenAI's own SDKs retry besides
# 429 and 5xx; both mean the request was not processed.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
_MAX_BACKOFF_SECONDS = 30.0
_DOWNLOAD_CHUNK_BYTES = 64 * 1024

_T = TypeVar("_T")
_ModelT = TypeVar("_ModelT", bound=BaseModel)

# Raised before any byte of the request left this process: always safe to retry, even for
# a create. Every other transport error may come after the server received the request.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
_TRANSIENT_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


class OpenAIClient:
    """Async client for ``/files`` and ``/fine_tuning/jobs``.

    Use as ``async with OpenAIClient(...) as client:`` or call :meth:`aclose`. The API key is
    held only inside the httpx client's headers (whose repr masks it) and never logged.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        organization: str | None = None,
        project: str | None = None,
        timeout_seconds: float = 30.0,
        max_retries: int = 4,
        backoff_base_seconds: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        self._base_url = base_url.rstrip("/")
        self._organization = organization
        self._project = project
        self._max_retries = max_retries
        self._backoff_base_seconds = backoff_base_seconds
        headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "ratecard"}
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        self._http = httpx.AsyncClient(
            # httpx joins relative paths onto base_url only if it ends with "/".
            base_url=self._base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIClient(base_url={self._base_url!r}, organization={self._organization!r}, "
            f"project={self._project!r})"
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ files

    async def retrieve_file(self, file_id: str) -> OpenAIFile:
        """``GET /files/{file_id}``: the file's metadata."""
        return await self._get_model("GET", f"files/{segment(file_id)}", OpenAIFile)

    async def download_file(self, file_id: str, dest: Path) -> int:
        """Stream ``GET /files/{file_id}/content`` into ``dest``; returns the bytes written.

        The body is written chunk by chunk, never held in memory. It goes to a temporary file
        next to ``dest`` that is renamed into place only when complete, so a failed or retried
        download never leaves a truncated file at ``dest``.
        """
        dest = Path(dest)
        # Unique per call, so concurrent downloads to one destination cannot interleave.
        partial = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")

        async def write_body(response: httpx.Response) -> int:
            written = 0
            # Each attempt starts the file afresh ("wb"): a retried download restarts.
            async with await anyio.open_file(partial, "wb") as out:
                async for chunk in response.aiter_bytes(_DOWNLOAD_CHUNK_BYTES):
                    await out.write(chunk)
                    written += len(chunk)
            return written

        try:
            written = await self._call(
                "GET", f"files/{segment(file_id)}/content", consume=write_body
            )
            os.replace(partial, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return written

    # ------------------------------------------------------------------ jobs

    async def create_job(
        self,
        *,
        model: str,
        training_file: str,
        hyperparameters: Mapping[str, int | float | str] | None = None,
        suffix: str | None = None,
        validation_file: str | None = None,
        metadata: Mapping[str, str] | None = None,
        seed: int | None = None,
        method: Mapping[str, Any] | None = None,
    ) -> FineTuningJob:
        """``POST /fine_tuning/jobs``.

        OpenAI offers no idempotency key for job creation, so this call is **never retried
        once the request may have reached OpenAI** (timeout, connection lost mid-request,
        5xx, unreadable 2xx body): it raises :class:`OpenAICreateOutcomeUnknown` instead,
        because the job may exist. The caller must put a launch id in ``metadata`` before
        calling and, on that error, reconcile with ``list_jobs(metadata={...launch id...})``
        before deciding to create again. Failures that prove nothing was created are still
        retried: connection refused, and 429 ``rate_limit_exceeded`` (the request was
        rejected).
        """
        body: dict[str, Any] = {"model": model, "training_file": training_file}
        # The top-level "hyperparameters" field is deprecated in favour of
        # method.supervised.hyperparameters but still accepted for every model, including
        # babbage-002/davinci-002; it keeps the request valid for all of them.
        if hyperparameters:
            body["hyperparameters"] = dict(hyperparameters)
        if suffix is not None:
            body["suffix"] = suffix
        if validation_file is not None:
            body["validation_file"] = validation_file
        if metadata:
            body["metadata"] = dict(metadata)
        if seed is not None:
            body["seed"] = seed
        if method is not None:
            body["method"] = dict(method)
        try:
            return await self._get_model(
                "POST", "fine_tuning/jobs", FineTuningJob, json_body=body, is_create=True
            )
        except OpenAIProtocolError as exc:
            # A 2xx we cannot read still means the job was probably created.
            raise OpenAICreateOutcomeUnknown(
                f"create_job response was unreadable; the job may exist: {exc}",
                metadata=metadata,
            ) from exc

    async def retrieve_job(self, job_id: str) -> FineTuningJob:
        """``GET /fine_tuning/jobs/{job_id}``."""
        return await self._get_model("GET", f"fine_tuning/jobs/{segment(job_id)}", FineTuningJob)

    async def list_jobs(
        self,
        *,
        after: str | None = None,
        limit: int = 100,
        metadata: Mapping[str, str] | None = None,
    ) -> FineTuningJobPage:
        """One page of ``GET /fine_tuning/jobs``, newest first.

        ``metadata`` filters on exact key/value matches (sent as ``metadata[key]=value``).
        """
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        for key, value in (metadata or {}).items():
            params[f"metadata[{key}]"] = value
        return await self._get_model("GET", "fine_tuning/jobs", FineTuningJobPage, params=params)

    async def iter_jobs(
        self,
        *,
        after: str | None = None,
        limit: int = 100,
        metadata: Mapping[str, str] | None = None,
    ) -> AsyncIterator[FineTuningJob]:
        """Every job, newest first, one list request per ``limit`` jobs."""
        cursor = after
        while True:
            page = await self.list_jobs(after=cursor, limit=limit, metadata=metadata)
            for job in page.data:
                yield job
            if not page.has_more:
                return
            if page.last_id is None or page.last_id == cursor:
                # has_more with nothing to advance the cursor would loop forever.
                raise OpenAIProtocolError("job list says has_more but gives no new cursor")
            cursor = page.last_id

    async def list_events(
        self, job_id: str, *, after: str | None = None, limit: int = 100
    ) -> FineTuningJobEventPage:
        """One page of ``GET /fine_tuning/jobs/{job_id}/events``, newest first."""
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return await self._get_model(
            "GET",
            f"fine_tuning/jobs/{segment(job_id)}/events",
            FineTuningJobEventPage,
            params=params,
        )

    async def cancel_job(self, job_id: str) -> FineTuningJob:
        """``POST /fine_tuning/jobs/{job_id}/cancel``.

        Cancelling is idempotent in effect (a second cancel is refused with a 4xx, never
        creates anything), so it is retried like a read.
        """
        return await self._get_model(
            "POST", f"fine_tuning/jobs/{segment(job_id)}/cancel", FineTuningJob
        )

    async def list_models(self) -> list[OpenAIModel]:
        """The organisation's fine-tuned models from ``GET /models`` (ids starting ``ft:``).

        The list is not paginated; base models are left out since ratecard's catalogue knows them.
        """
        page = await self._get_model("GET", "models", ModelList)
        return [m for m in page.data if m.id.startswith("ft:")]

    # ------------------------------------------------------------------ plumbing

    async def _get_model(
        self,
        method: str,
        path: str,
        model: type[_ModelT],
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, Any] | None = None,
        is_create: bool = False,
    ) -> _ModelT:
        async def read(response: httpx.Response) -> bytes:
            return await response.aread()

        body = await self._call(
            method, path, consume=read, params=params, json_body=json_body, is_create=is_create
        )
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise OpenAIProtocolError(
                f"{method} /{path}: response is not JSON: {snippet(body)!r}"
            ) from exc
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise OpenAIProtocolError(
                f"{method} /{path}: response is not a {model.__name__}: "
                f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}"
            ) from exc

    async def _call(
        self,
        method: str,
        path: str,
        *,
        consume: Callable[[httpx.Response], Awaitable[_T]],
        params: Mapping[str, str | int | list[str]] | None = None,
        json_body: Mapping[str, Any] | None = None,
        is_create: bool = False,
    ) -> _T:
        """Send one logical request with the retry policy; ``consume`` reads a 2xx body.

        ``consume`` runs inside the retry loop so that a connection lost while streaming a
        body is retried (or, for a create, reported as an unknown outcome) like any other.
        """
        attempt = 0
        while True:
            request = self._http.build_request(method, path, params=params, json=json_body)
            try:
                response = await self._http.send(request, stream=True)
                observe_openai(method, response.status_code)
                try:
                    if response.is_success:
                        return await consume(response)
                    await response.aread()
                finally:
                    await response.aclose()
            except _TRANSIENT_TRANSPORT_ERRORS as exc:
                observe_openai(method, None)
                reason = type(exc).__name__
                if is_create and not isinstance(exc, _NOT_SENT_ERRORS):
                    raise OpenAICreateOutcomeUnknown(
                        f"create_job: {reason} after the request may have been sent; "
                        "the job may exist, reconcile by listing jobs with its metadata",
                        metadata=metadata_of(json_body),
                    ) from exc
                if attempt >= self._max_retries:
                    raise OpenAIUnavailable(
                        f"{method} /{path}: {reason} after {attempt + 1} attempt(s)",
                        attempts=attempt + 1,
                        last_error=reason,
                    ) from exc
                wait = self._backoff(attempt)
                self._log_retry(method, path, reason, attempt, wait)
            except httpx.HTTPError as exc:
                # Invalid URL, unsupported scheme...: configuration errors, not transient.
                raise OpenAIError(f"{method} /{path}: {type(exc).__name__}: {exc}") from exc
            else:
                error = error_from_response(response)
                status = response.status_code
                if is_quota_error(error):
                    raise OpenAIQuotaExceeded(error.message, **error.fields())
                retryable = status in _RETRYABLE_STATUSES or status >= 500
                if not retryable:
                    raise rejection(error)
                if is_create and status != 429:
                    # 5xx/408/409 on a create: the job may have been created before the
                    # failure. Only a 429 proves the request was turned away.
                    raise OpenAICreateOutcomeUnknown(
                        f"create_job: HTTP {status} ({error.message}); the job may exist, "
                        "reconcile by listing jobs with its metadata",
                        metadata=metadata_of(json_body),
                    )
                if attempt >= self._max_retries:
                    raise OpenAIUnavailable(
                        f"{method} /{path}: HTTP {status} after {attempt + 1} attempt(s): "
                        f"{error.message}",
                        attempts=attempt + 1,
                        last_status=status,
                        last_error=error.message,
                    )
                wait = self._backoff(attempt, response.headers)
                self._log_retry(method, path, f"HTTP {status}", attempt, wait)
            await anyio.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int, headers: httpx.Headers | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1``.

        The server's hint wins when present and sane; otherwise exponential backoff with
        jitter (up to 25% shorter) so that many clients do not retry in lockstep.
        """
        if headers is not None:
            hinted = retry_after_seconds(headers)
            if hinted is not None:
                return hinted
        delay = min(self._backoff_base_seconds * (2**attempt), _MAX_BACKOFF_SECONDS)
        return delay * (1.0 - 0.25 * random.random())

    def _log_retry(self, method: str, path: str, reason: str, attempt: int, wait: float) -> None:
        logger.warning(
            "OpenAI %s /%s failed with %s; retry %d/%d in %.3fs",
            method,
            path,
            reason,
            attempt + 1,
            self._max_retries,
            wait,
        )
