"""A loopback fake of OpenAI's files and fine-tuning endpoints.

It speaks the real wire protocol (paths under ``/v1``, OpenAI's JSON shapes and error
objects, ``metadata[k]=v`` filters, cursor pagination newest first) so the service, the tests
and ``ratecard serve --demo`` can run with no network and no credentials. Responses follow
``shared/reference/openai-openapi.yaml``; ``tests/service/test_fake_openai_schema.py`` checks it.

Behaviour
- Jobs move ``validating_files -> queued -> running -> succeeded`` on a clock: each state lasts
  ``step_seconds`` (or ``durations[state]``), measured with the injectable ``clock`` (use
  :class:`ManualClock` in tests to advance time without sleeping). Progress is computed lazily
  whenever a job is read, with event timestamps at the transition times, so results do not
  depend on when anyone looks. Each transition emits an event.
- On success ``trained_tokens`` = billing tokens of the training file x epochs, where billing
  tokens are the sum over examples of the cookbook chat count (3 per message, the tokens of
  each value, +1 per ``name``, +3 priming; ``prompt`` + ``completion`` for babbage/davinci),
  each capped at the model's per-example limit. Text is counted by ``count_text_tokens(text,
  encoding)``: by default :func:`pricing.tokens.count_text_tokens` (the project's offline
  tiktoken), falling back to :func:`approximate_text_tokens` (ceil(characters / 4)) only if
  that module cannot be imported. ``n_epochs="auto"`` resolves by OpenAI's documented rule
  (:func:`default_n_epochs`).
- A training file that is not valid JSONL in the model's format makes the job fail during
  validation with ``error.code = "invalid_training_file"`` and the line number.
- Test hooks: :meth:`FakeOpenAIState.fail_job`, :meth:`FakeOpenAIState.fail_next_job`,
  :meth:`FakeOpenAIState.cancel_job`, and fault injection (:meth:`FakeOpenAIState.inject_fault`
  or ``POST /_fake/faults``): 429 ``rate_limit_exceeded`` with ``retry-after-ms``, 429
  ``insufficient_quota``, 5xx, arbitrary errors, delays, a response that is processed but
  delivered late (a create that succeeds upstream while the client times out) and malformed
  JSON. ``state.request_counts`` counts requests per endpoint, keyed ``"GET
  /v1/fine_tuning/jobs"`` (the route template, e.g. ``"GET /v1/fine_tuning/jobs/{job_id}"``).

Deliberate simplifications (documented so nobody mistakes them for OpenAI's behaviour):
files live in memory; only the ``supervised`` method is accepted; a job list ``limit`` above
100 is clamped to 100; ``min_training_examples`` defaults to 1 (OpenAI requires 10) because
the project's sample files have 5 examples.

Run it: ``python -m service.fakes.openai_api --port 8765 [--file data.jsonl]``.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import logging
import math
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "FINE_TUNABLE_MODELS",
    "MODEL_ALIASES",
    "FakeFile",
    "FakeJob",
    "FakeOpenAIError",
    "FakeOpenAIState",
    "FaultKind",
    "FaultSpec",
    "ManualClock",
    "RecordedRequest",
    "approximate_text_tokens",
    "create_fake_openai_app",
    "default_n_epochs",
    "main",
]

logger = logging.getLogger(__name__)

TextTokenCounter = Callable[[str, str], int]
"""``(text, encoding_name) -> tokens``."""


@dataclass(frozen=True)
class _FineTunableModel:
    id: str
    encoding: str
    example_token_limit: int
    chat: bool


# The fake keeps its own table instead of reading pricing's catalogue: it stands in for
# OpenAI, so a mistake in our catalogue must not be mirrored by the fake and go unnoticed.
FINE_TUNABLE_MODELS: dict[str, _FineTunableModel] = {
    m.id: m
    for m in (
        _FineTunableModel("gpt-3.5-turbo-0613", "cl100k_base", 4096, chat=True),
        _FineTunableModel("gpt-3.5-turbo-1106", "cl100k_base", 16385, chat=True),
        _FineTunableModel("gpt-3.5-turbo-0125", "cl100k_base", 16385, chat=True),
        _FineTunableModel("gpt-4-0613", "cl100k_base", 8192, chat=True),
        _FineTunableModel("gpt-4o-mini-2024-07-18", "o200k_base", 65536, chat=True),
        _FineTunableModel("gpt-4o-2024-08-06", "o200k_base", 65536, chat=True),
        _FineTunableModel("gpt-4.1-2025-04-14", "o200k_base", 65536, chat=True),
        _FineTunableModel("gpt-4.1-mini-2025-04-14", "o200k_base", 65536, chat=True),
        _FineTunableModel("gpt-4.1-nano-2025-04-14", "o200k_base", 65536, chat=True),
        _FineTunableModel("babbage-002", "cl100k_base", 16384, chat=False),
        _FineTunableModel("davinci-002", "cl100k_base", 16384, chat=False),
    )
}

# What the aliases point at today; the job reports the resolved snapshot, as OpenAI does.
MODEL_ALIASES: dict[str, str] = {
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
}

_ACTIVE_STATUSES = ("validating_files", "queued", "running")
_TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
_FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data"})
_JOB_LIST_MAX_LIMIT = 100
_CONTENT_CHUNK_BYTES = 64 * 1024
_ID_ALPHABET = string.ascii_letters + string.digits


def approximate_text_tokens(text: str, encoding: str) -> int:
    """ceil(characters / 4): OpenAI's rule of thumb, used only if tiktoken is unavailable."""
    del encoding  # same approximation for every encoding
    return (len(text) + 3) // 4


def _default_text_counter() -> TextTokenCounter:
    try:
        from pricing.tokens import count_text_tokens
    except ImportError:
        logger.warning("pricing.tokens unavailable; fake OpenAI counts tokens as chars/4")
        return approximate_text_tokens
    return count_text_tokens


def default_n_epochs(n_examples: int) -> int:
    """OpenAI's rule for ``n_epochs="auto"``: 3, stretched so that small files see at least
    100 examples (at most 25 epochs) and shrunk so that large ones see at most 25,000."""
    n_epochs = 3
    if n_examples <= 0:
        return n_epochs
    if n_examples * n_epochs < 100:
        n_epochs = min(25, 100 // n_examples)
    elif n_examples * n_epochs > 25_000:
        n_epochs = max(1, 25_000 // n_examples)
    return n_epochs


def _new_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class ManualClock:
    """A clock tests move by hand: ``clock.advance(5)`` instead of sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now


class FakeOpenAIError(Exception):
    """An error the fake answers with, in OpenAI's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # OpenAI's field name
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


FaultKind = Literal[
    "rate_limit",  # 429 rate_limit_exceeded, with retry-after-ms (and retry-after if given)
    "insufficient_quota",  # 429 insufficient_quota
    "server_error",  # 500 by default; status=503 for "overloaded"
    "error",  # any status/type/code/message/param, e.g. 400 billing_hard_limit_reached
    "delay",  # wait delay_seconds, then handle normally
    "late_response",  # handle (side effects happen), then wait delay_seconds before answering
    "malformed",  # 200 with a truncated JSON body
]


class FaultSpec(BaseModel):
    """One injected fault; also the JSON body of ``POST /_fake/faults``.

    ``path`` is a glob matched against the request path or the route template (e.g.
    ``/v1/fine_tuning/jobs`` or ``/v1/fine_tuning/jobs/{job_id}``); ``method`` narrows it.
    The fault answers the next ``times`` matching requests, then is spent.
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    path: str = "*"
    method: str | None = None
    times: int = Field(default=1, ge=1)
    status: int | None = None
    # Rate limits only: OpenAI's hint headers; None leaves a header out.
    retry_after_ms: int | None = 20
    retry_after: float | None = None
    delay_seconds: float = Field(default=0.0, ge=0.0)
    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None


@dataclass
class _ActiveFault:
    spec: FaultSpec
    remaining: int


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    raw_path: str  # as sent, percent-encoding intact
    endpoint: str
    query_string: str
    headers: dict[str, str]


@dataclass
class FakeFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class _Event:
    id: str
    created_at: int
    level: str
    message: str
    type: str = "message"
    data: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.event",
            "id": self.id,
            "created_at": self.created_at,
            "level": self.level,
            "message": self.message,
            "type": self.type,
            "data": self.data,
        }


@dataclass
class FakeJob:
    id: str
    seq: int
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    metadata: dict[str, str] | None
    seed: int
    hyperparameters: dict[str, Any]
    created: float
    queued_at: float
    running_at: float
    finishes_at: float
    status: str = "validating_files"
    finished_at: int | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    result_files: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    planned_error: dict[str, Any] | None = None
    billing_tokens: int | None = None
    n_examples: int | None = None
    events: list[_Event] = field(default_factory=list)

    def to_api(self, organization_id: str) -> dict[str, Any]:
        hyperparameters = dict(self.hyperparameters)
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": int(self.created),
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": organization_id,
            "result_files": list(self.result_files),
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": hyperparameters,
            "trained_tokens": self.trained_tokens,
            "error": dict(self.error) if self.error else None,
            "seed": self.seed,
            "estimated_finish": int(self.finishes_at) if self.status == "running" else None,
            "integrations": None,
            "metadata": dict(self.metadata) if self.metadata is not None else None,
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": dict(hyperparameters)},
            },
        }


@dataclass(frozen=True)
class _FileAnalysis:
    n_examples: int
    billing_tokens: int


class _InvalidTrainingFile(Exception):
    pass


class FakeOpenAIState:
    """Everything the fake knows, shared by the app and the tests (thread-safe).

    The app runs in uvicorn's thread while tests poke the state from theirs, so every public
    method takes ``self._lock``; no lock is ever held across an ``await``.
    """

    def __init__(
        self,
        *,
        step_seconds: float = 1.0,
        durations: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
        organization_id: str = "org-fake",
        organization_name: str = "fake-org",
        api_key: str | None = None,
        count_text_tokens: TextTokenCounter | None = None,
        min_training_examples: int = 1,
    ) -> None:
        unknown = set(durations or {}) - set(_ACTIVE_STATUSES)
        if unknown:
            raise ValueError(f"durations for unknown states: {sorted(unknown)}")
        self.durations: dict[str, float] = {s: step_seconds for s in _ACTIVE_STATUSES}
        self.durations.update(durations or {})
        self.clock = clock
        self.organization_id = organization_id
        self.organization_name = organization_name
        # None accepts any bearer token; a string makes other tokens get a 401.
        self.api_key = api_key
        self.count_text_tokens = count_text_tokens or _default_text_counter()
        self.min_training_examples = min_training_examples
        self.request_counts: Counter[str] = Counter()
        self.request_log: list[RecordedRequest] = []
        self.create_job_requests: list[dict[str, Any]] = []
        self._files: dict[str, FakeFile] = {}
        self._jobs: dict[str, FakeJob] = {}
        self._job_order: list[FakeJob] = []
        self._faults: list[_ActiveFault] = []
        self._next_job_errors: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._released = threading.Event()

    # ------------------------------------------------------------- test helpers

    def add_file(self, filename: str, content: bytes, purpose: str = "fine-tune") -> str:
        """Store a file as if uploaded; returns its id."""
        return str(self.create_file(filename=filename, purpose=purpose, content=content)["id"])

    def file(self, file_id: str) -> FakeFile:
        with self._lock:
            try:
                return self._files[file_id]
            except KeyError:
                raise _no_such_file(file_id) from None

    def job(self, job_id: str) -> FakeJob:
        """The job record, progressed to the clock's current time."""
        with self._lock:
            job = self._get_job(job_id)
            self._advance(job)
            return job

    @property
    def jobs(self) -> list[FakeJob]:
        """All jobs, oldest first, progressed to now."""
        with self._lock:
            for job in self._job_order:
                self._advance(job)
            return list(self._job_order)

    def inject_fault(self, kind: FaultKind, **options: Any) -> FaultSpec:
        """Answer the next matching request(s) with a fault; see :class:`FaultSpec`."""
        return self.add_fault(FaultSpec(kind=kind, **options))

    def add_fault(self, spec: FaultSpec) -> FaultSpec:
        with self._lock:
            self._faults.append(_ActiveFault(spec=spec, remaining=spec.times))
        return spec

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.request_counts.clear()
            self.request_log.clear()

    def fail_job(
        self,
        job_id: str,
        *,
        code: str = "server_error",
        message: str = "The job failed due to an internal error.",
        param: str | None = None,
    ) -> FakeJob:
        """End a non-terminal job as ``failed`` now, with ``error = {code, message, param}``."""
        with self._lock:
            job = self.job(job_id)
            if job.status not in _TERMINAL_STATUSES:
                error = {"code": code, "message": message, "param": param}
                self._finish_failed(job, error, self.clock())
            return job

    def fail_next_job(
        self,
        *,
        code: str = "server_error",
        message: str = "The job failed due to an internal error.",
        param: str | None = None,
    ) -> None:
        """The next job created runs normally but ends ``failed`` instead of succeeding."""
        with self._lock:
            self._next_job_errors.append({"code": code, "message": message, "param": param})

    def release_delays(self) -> None:
        """Cut short every pending injected delay (call before stopping a server)."""
        self._released.set()

    # ---------------------------------------------------------------- files API

    def create_file(self, *, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        if purpose not in _FILE_PURPOSES:
            raise FakeOpenAIError(
                400,
                f"'{purpose}' is not one of {sorted(_FILE_PURPOSES)} - 'purpose'",
                param="purpose",
            )
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            raise FakeOpenAIError(
                400, "Invalid file format for Fine-Tuning API. Must be .jsonl", param="file"
            )
        with self._lock:
            file = FakeFile(
                id=_new_id("file-", 22),
                filename=filename,
                purpose=purpose,
                content=content,
                created_at=int(self.clock()),
            )
            self._files[file.id] = file
            return file.to_api()

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        return self.file(file_id).to_api()

    def list_files(
        self,
        *,
        purpose: str | None = None,
        limit: int = 10_000,
        order: str = "desc",
        after: str | None = None,
    ) -> dict[str, Any]:
        if order not in ("asc", "desc"):
            raise FakeOpenAIError(400, f"Invalid order: {order}", param="order")
        if not 1 <= limit <= 10_000:
            raise FakeOpenAIError(400, "limit must be between 1 and 10000", param="limit")
        with self._lock:
            files = [f for f in self._files.values() if purpose is None or f.purpose == purpose]
            if order == "desc":
                files.reverse()
            files = _after(files, after, lambda f: f.id, "file")
            page = files[:limit]
            data = [f.to_api() for f in page]
        return {
            "object": "list",
            "data": data,
            # The schema types these as strings (not nullable), so an empty page gets "".
            "first_id": data[0]["id"] if data else "",
            "last_id": data[-1]["id"] if data else "",
            "has_more": len(files) > limit,
        }

    # ----------------------------------------------------------------- jobs API

    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/fine_tuning/jobs`` with a parsed JSON body."""
        with self._lock:
            self.create_job_requests.append(dict(body))
            model_name = _required_str(body, "model")
            model_id = self._resolve_model(model_name)
            training_file = _required_str(body, "training_file")
            self._check_fine_tune_file(training_file, "training_file")
            validation_file = _optional_str(body, "validation_file")
            if validation_file is not None:
                self._check_fine_tune_file(validation_file, "validation_file")
            suffix = _optional_str(body, "suffix")
            if suffix is not None and not 1 <= len(suffix) <= 64:
                raise FakeOpenAIError(
                    400, "suffix must be between 1 and 64 characters", param="suffix"
                )
            metadata = _metadata(body.get("metadata"))
            seed = body.get("seed")
            if seed is None:
                seed = secrets.randbelow(2**31)
            elif not (isinstance(seed, int) and not isinstance(seed, bool)) or not (
                0 <= seed <= 2_147_483_647
            ):
                raise FakeOpenAIError(
                    400, "seed must be an integer in [0, 2147483647]", param="seed"
                )
            hyperparameters = _hyperparameters(body)

            now = self.clock()
            queued_at = now + self.durations["validating_files"]
            running_at = queued_at + self.durations["queued"]
            job = FakeJob(
                id=_new_id("ftjob-", 24),
                seq=len(self._job_order),
                model=model_id,
                training_file=training_file,
                validation_file=validation_file,
                suffix=suffix,
                metadata=metadata,
                seed=seed,
                hyperparameters=hyperparameters,
                created=now,
                queued_at=queued_at,
                running_at=running_at,
                finishes_at=running_at + self.durations["running"],
            )
            if self._next_job_errors:
                job.planned_error = self._next_job_errors.pop(0)
            self._emit(job, now, f"Created fine-tuning job: {job.id}")
            self._emit(job, now, f"Validating training file: {training_file}")
            self._jobs[job.id] = job
            self._job_order.append(job)
            return job.to_api(self.organization_id)

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self.job(job_id).to_api(self.organization_id)

    def list_jobs(
        self,
        *,
        after: str | None = None,
        limit: int = 20,
        metadata: Mapping[str, str] | None = None,
        without_metadata: bool = False,
    ) -> dict[str, Any]:
        """Newest first; ``metadata`` keeps jobs whose metadata has every given pair."""
        if limit < 1:
            raise FakeOpenAIError(400, "limit must be at least 1", param="limit")
        limit = min(limit, _JOB_LIST_MAX_LIMIT)
        with self._lock:
            if after is not None:
                # The cursor must be a real job, but need not match the filter.
                cursor = self._get_job(after, param="after")
                candidates = [j for j in reversed(self._job_order) if j.seq < cursor.seq]
            else:
                candidates = list(reversed(self._job_order))
            selected = [j for j in candidates if _metadata_matches(j, metadata, without_metadata)]
            page = selected[:limit]
            for job in page:
                self._advance(job)
            return {
                "object": "list",
                "data": [j.to_api(self.organization_id) for j in page],
                "has_more": len(selected) > limit,
            }

    def list_events(
        self, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> dict[str, Any]:
        if limit < 1:
            raise FakeOpenAIError(400, "limit must be at least 1", param="limit")
        with self._lock:
            job = self.job(job_id)
            events = list(reversed(job.events))
            events = _after(events, after, lambda e: e.id, "event")
            page = events[:limit]
            return {
                "object": "list",
                "data": [e.to_api() for e in page],
                "has_more": len(events) > limit,
            }

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self.job(job_id)
            if job.status in _TERMINAL_STATUSES:
                raise FakeOpenAIError(
                    400, f"Job has already completed: {job_id}", param="fine_tuning_job_id"
                )
            now = self.clock()
            job.status = "cancelled"
            job.finished_at = int(now)
            self._emit(job, now, "Fine-tuning job cancelled")
            return job.to_api(self.organization_id)

    # --------------------------------------------------------------- internals

    def _get_job(self, job_id: str, *, param: str = "fine_tuning_job_id") -> FakeJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            status = 400 if param == "after" else 404
            raise FakeOpenAIError(
                status, f"No such fine-tuning job: {job_id}", param=param
            ) from None

    def _resolve_model(self, name: str) -> str:
        resolved = MODEL_ALIASES.get(name, name)
        if resolved in FINE_TUNABLE_MODELS:
            return resolved
        # Continued fine-tuning of a model this fake produced.
        if name.startswith("ft:") and any(j.fine_tuned_model == name for j in self._job_order):
            return name
        raise FakeOpenAIError(
            400,
            f"Model {name} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        )

    def _check_fine_tune_file(self, file_id: str, param: str) -> None:
        file = self._files.get(file_id)
        if file is None:
            raise FakeOpenAIError(400, f"invalid {param}: {file_id}", param=param)
        if file.purpose != "fine-tune":
            raise FakeOpenAIError(
                400,
                f"File {file_id} has purpose '{file.purpose}', expected 'fine-tune'.",
                param=param,
            )

    def _model_spec(self, job: FakeJob) -> _FineTunableModel:
        model = job.model
        if model.startswith("ft:"):
            model = model.split(":")[1]
        return FINE_TUNABLE_MODELS[model]

    def _emit(
        self,
        job: FakeJob,
        at: float,
        message: str,
        *,
        level: str = "info",
        type: str = "message",  # OpenAI's field name
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            _Event(
                id=_new_id("ftevent-", 24),
                created_at=int(at),
                level=level,
                message=message,
                type=type,
                data=data or {},
            )
        )

    def _advance(self, job: FakeJob) -> None:
        """Apply every transition whose time has come, stamped with its own time."""
        now = self.clock()
        if job.status == "validating_files" and now >= job.queued_at:
            try:
                analysis = self._analyse(job)
            except _InvalidTrainingFile as exc:
                error = {
                    "code": "invalid_training_file",
                    "message": f"The job failed due to an invalid training file. {exc}",
                    "param": "training_file",
                }
                self._finish_failed(job, error, job.queued_at)
                return
            job.n_examples = analysis.n_examples
            job.billing_tokens = analysis.billing_tokens
            job.hyperparameters = _resolve_hyperparameters(job.hyperparameters, analysis)
            job.status = "queued"
            self._emit(job, job.queued_at, "Files validated, moving job to queued state")
        if job.status == "queued" and now >= job.running_at:
            job.status = "running"
            self._emit(job, job.running_at, "Fine-tuning job started")
        if job.status == "running" and now >= job.finishes_at:
            if job.planned_error is not None:
                self._finish_failed(job, job.planned_error, job.finishes_at)
            else:
                self._finish_succeeded(job)

    def _finish_succeeded(self, job: FakeJob) -> None:
        at = job.finishes_at
        n_epochs = int(job.hyperparameters["n_epochs"])
        batch_size = int(job.hyperparameters["batch_size"])
        job.trained_tokens = (job.billing_tokens or 0) * n_epochs
        total_steps = max(1, math.ceil((job.n_examples or 0) / batch_size) * n_epochs)
        base = self._model_spec(job).id
        job.fine_tuned_model = (
            f"ft:{base}:{self.organization_name}:{job.suffix or ''}:{job.id[-8:]}"
        )
        results = FakeFile(
            id=_new_id("file-", 22),
            filename="step_metrics.csv",
            purpose="fine-tune-results",
            content=f"step,train_loss\n{total_steps},0.1234\n".encode(),
            created_at=int(at),
        )
        self._files[results.id] = results
        job.result_files = [results.id]
        job.status = "succeeded"
        job.finished_at = int(at)
        self._emit(
            job,
            at,
            f"Step {total_steps}/{total_steps}: training loss=0.1234",
            type="metrics",
            data={"step": total_steps, "total_steps": total_steps, "train_loss": 0.1234},
        )
        self._emit(job, at, f"New fine-tuned model created: {job.fine_tuned_model}")
        self._emit(job, at, "The job has successfully completed")

    def _finish_failed(self, job: FakeJob, error: dict[str, Any], at: float) -> None:
        job.status = "failed"
        job.error = dict(error)
        job.finished_at = int(at)
        self._emit(job, at, str(error.get("message") or "The job failed"), level="error")

    def _analyse(self, job: FakeJob) -> _FileAnalysis:
        spec = self._model_spec(job)
        content = self._files[job.training_file].content
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _InvalidTrainingFile(f"File is not UTF-8 (byte {exc.start}).") from None
        n_examples = 0
        billing_tokens = 0
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except ValueError:
                raise _InvalidTrainingFile(
                    f"Invalid file format. Line {line_no}: not valid JSON."
                ) from None
            if not isinstance(example, dict):
                raise _InvalidTrainingFile(
                    f"Invalid file format. Line {line_no}: expected a JSON object."
                )
            tokens = self._example_tokens(example, spec, line_no)
            billing_tokens += min(tokens, spec.example_token_limit)
            n_examples += 1
        if n_examples < max(1, self.min_training_examples):
            raise _InvalidTrainingFile(
                f"Training file has {n_examples} example(s), but must have at least "
                f"{max(1, self.min_training_examples)} examples."
            )
        return _FileAnalysis(n_examples=n_examples, billing_tokens=billing_tokens)

    def _example_tokens(
        self, example: dict[str, Any], spec: _FineTunableModel, line_no: int
    ) -> int:
        count = self.count_text_tokens
        if not spec.chat:
            prompt, completion = example.get("prompt"), example.get("completion")
            if not isinstance(prompt, str) or not isinstance(completion, str):
                raise _InvalidTrainingFile(
                    f"Invalid file format. Line {line_no}: expected 'prompt' and 'completion' "
                    "strings."
                )
            return count(prompt, spec.encoding) + count(completion, spec.encoding)
        messages = example.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _InvalidTrainingFile(
                f'Invalid file format. Line {line_no}, key "messages": expected a non-empty list.'
            )
        # Cookbook count: 3 priming + per message 3, its values, +1 for a name.
        total = 3
        has_assistant = False
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _InvalidTrainingFile(
                    f"Invalid file format. Line {line_no}: every message needs a 'role'."
                )
            has_assistant = has_assistant or message["role"] == "assistant"
            total += 3
            for key, value in message.items():
                if key == "weight" or value is None:
                    continue  # a training directive, never shown to the model
                text = (
                    value
                    if isinstance(value, str)
                    else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                )
                total += count(text, spec.encoding)
                if key == "name":
                    total += 1
        if not has_assistant:
            raise _InvalidTrainingFile(
                f"Invalid file format. Line {line_no}: no assistant message."
            )
        return total

    # ------------------------------------------------------- transport support

    def _take_fault(self, method: str, path: str, endpoint: str) -> FaultSpec | None:
        with self._lock:
            for active in self._faults:
                spec = active.spec
                if spec.method is not None and spec.method.upper() != method:
                    continue
                if not (
                    fnmatch.fnmatchcase(path, spec.path)
                    or fnmatch.fnmatchcase(endpoint.partition(" ")[2], spec.path)
                ):
                    continue
                active.remaining -= 1
                if active.remaining <= 0:
                    self._faults.remove(active)
                return spec
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.request_counts[request.endpoint] += 1
            self.request_log.append(request)

    async def _pause(self, seconds: float) -> None:
        # Wall-clock (not self.clock): these delays are about wire timing, and they poll
        # release_delays() so a test server can shut down without waiting them out.
        deadline = time.monotonic() + seconds
        while not self._released.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.02))


# ------------------------------------------------------------------ helpers


def _required_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise FakeOpenAIError(
            400,
            f"Missing required parameter: '{name}'.",
            param=name,
            code="missing_required_parameter",
        )
    if not isinstance(value, str) or not value:
        raise FakeOpenAIError(400, f"Invalid type for '{name}': expected a string.", param=name)
    return value


def _optional_str(body: Mapping[str, Any], name: str) -> str | None:
    if body.get(name) is None:
        return None
    return _required_str(body, name)


def _metadata(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16:
        raise FakeOpenAIError(
            400, "metadata must be an object with at most 16 keys", param="metadata"
        )
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 64 or len(item) > 512:
            raise FakeOpenAIError(
                400,
                "metadata keys must be at most 64 characters and values strings of at most "
                "512 characters",
                param=f"metadata.{key}",
            )
    return dict(value)


_HYPERPARAMETER_RULES: dict[str, tuple[type | tuple[type, ...], float, float]] = {
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": ((int, float), 0, math.inf),
}


def _hyperparameters(body: Mapping[str, Any]) -> dict[str, Any]:
    """Requested hyperparameters from ``hyperparameters`` or ``method.supervised``."""
    given: object = body.get("hyperparameters")
    method = body.get("method")
    if method is not None:
        if not isinstance(method, dict) or method.get("type") != "supervised":
            raise FakeOpenAIError(
                400, "The fake only supports method.type 'supervised'.", param="method.type"
            )
        supervised = method.get("supervised") or {}
        given = (
            supervised.get("hyperparameters") if isinstance(supervised, dict) else None
        ) or given
    given = given or {}
    if not isinstance(given, dict):
        raise FakeOpenAIError(400, "hyperparameters must be an object", param="hyperparameters")
    result: dict[str, Any] = {}
    for name, (kind, low, high) in _HYPERPARAMETER_RULES.items():
        value = given.get(name, "auto")
        if value == "auto":
            result[name] = "auto"
            continue
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if ok and name == "learning_rate_multiplier":
            ok = low < value <= high
        elif ok:
            ok = low <= value <= high
        if not ok:
            raise FakeOpenAIError(
                400,
                f"Invalid value for hyperparameters.{name}: {value!r}",
                param=f"hyperparameters.{name}",
            )
        result[name] = value
    unknown = set(given) - set(_HYPERPARAMETER_RULES)
    if unknown:
        raise FakeOpenAIError(
            400,
            f"Unknown hyperparameter(s): {', '.join(sorted(unknown))}",
            param="hyperparameters",
        )
    return result


def _resolve_hyperparameters(
    requested: Mapping[str, Any], analysis: _FileAnalysis
) -> dict[str, Any]:
    """Replace "auto" with numbers, as OpenAI does once the file is validated."""
    resolved = dict(requested)
    if resolved["n_epochs"] == "auto":
        resolved["n_epochs"] = default_n_epochs(analysis.n_examples)
    if resolved["batch_size"] == "auto":
        # OpenAI uses about 0.2% of the examples per batch, capped at 256.
        resolved["batch_size"] = max(1, min(256, math.ceil(analysis.n_examples * 0.002)))
    if resolved["learning_rate_multiplier"] == "auto":
        resolved["learning_rate_multiplier"] = 2.0  # plausible; no billing depends on it
    return resolved


def _metadata_matches(
    job: FakeJob, wanted: Mapping[str, str] | None, without_metadata: bool
) -> bool:
    if without_metadata:
        return not job.metadata
    if not wanted:
        return True
    have = job.metadata or {}
    return all(have.get(k) == v for k, v in wanted.items())


_T = TypeVar("_T")


def _after(items: list[_T], after: str | None, key: Callable[[_T], str], what: str) -> list[_T]:
    if after is None:
        return items
    for index, item in enumerate(items):
        if key(item) == after:
            return items[index + 1 :]
    raise FakeOpenAIError(400, f"No such {what}: {after}", param="after")


def _no_such_file(file_id: str) -> FakeOpenAIError:
    return FakeOpenAIError(404, f"No such File object: {file_id}", param="id")


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise FakeOpenAIError(
            400, f"Invalid '{name}': expected an integer, got '{raw}'.", param=name
        ) from None


def _state(request: Request) -> FakeOpenAIState:
    state: FakeOpenAIState = request.app.state.fake
    return state


def _mask_key(key: str) -> str:
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else "***"


# ---------------------------------------------------------------- transport


class _FakeTransportMiddleware:
    """Counts requests, checks the bearer token and applies injected faults.

    Pure ASGI (not BaseHTTPMiddleware) so streamed bodies pass through untouched and a
    "late response" can hold back a fully processed answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        fastapi_app: FastAPI = scope["app"]
        state: FakeOpenAIState = fastapi_app.state.fake
        method: str = scope["method"]
        path: str = scope["path"]
        endpoint = f"{method} {_route_template(fastapi_app, scope)}"
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        state._record(
            RecordedRequest(
                method=method,
                path=path,
                raw_path=scope.get("raw_path", path.encode()).decode("latin-1"),
                endpoint=endpoint,
                query_string=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
            )
        )
        auth_error = _check_auth(state, headers.get("authorization"))
        if auth_error is not None:
            await auth_error.response()(scope, receive, send)
            return
        fault = state._take_fault(method, path, endpoint)
        if fault is None:
            await self.app(scope, receive, send)
            return
        logger.info("fake OpenAI: injecting %s into %s", fault.kind, endpoint)
        if fault.kind == "delay":
            await state._pause(fault.delay_seconds)
            await self.app(scope, receive, send)
        elif fault.kind == "late_response":
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            await state._pause(fault.delay_seconds)
            for message in held:
                await send(message)
        elif fault.kind == "malformed":
            truncated = Response(
                b'{"object": "fine_tuning.job", "id": ', media_type="application/json"
            )
            await truncated(scope, receive, send)
        else:
            await _fault_error(fault).response()(scope, receive, send)


def _route_template(app: FastAPI, scope: Scope) -> str:
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return str(scope["path"])


def _check_auth(state: FakeOpenAIState, authorization: str | None) -> FakeOpenAIError | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return FakeOpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
            "or as the password field (with blank username) if you're accessing the API from "
            "your browser and are prompted for a username and password. You can obtain an "
            "API key from https://platform.openai.com/account/api-keys.",
        )
    if state.api_key is not None and token.strip() != state.api_key:
        return FakeOpenAIError(
            401,
            f"Incorrect API key provided: {_mask_key(token.strip())}. You can find your API "
            "key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None


def _fault_error(fault: FaultSpec) -> FakeOpenAIError:
    if fault.kind == "rate_limit":
        headers: dict[str, str] = {}
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        return FakeOpenAIError(
            fault.status or 429,
            fault.message
            or "Rate limit reached for requests in organization org-fake on requests per "
            "min (RPM): Limit 60, Used 60, Requested 1. Please try again in 1s.",
            type=fault.type or "requests",
            param=fault.param,
            code=fault.code or "rate_limit_exceeded",
            headers=headers,
        )
    if fault.kind == "insufficient_quota":
        return FakeOpenAIError(
            fault.status or 429,
            fault.message
            or "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
            type=fault.type or "insufficient_quota",
            param=fault.param,
            code=fault.code or "insufficient_quota",
        )
    if fault.kind == "server_error":
        status = fault.status or 500
        default_message = (
            "The engine is currently overloaded, please try again later."
            if status == 503
            else "The server had an error while processing your request. Sorry about that!"
        )
        return FakeOpenAIError(
            status,
            fault.message or default_message,
            type=fault.type or "server_error",
            param=fault.param,
            code=fault.code,
        )
    return FakeOpenAIError(
        fault.status or 400,
        fault.message or "Injected error.",
        type=fault.type or "invalid_request_error",
        param=fault.param,
        code=fault.code,
    )


# --------------------------------------------------------------------- app


def create_fake_openai_app(state: FakeOpenAIState | None = None) -> FastAPI:
    """The fake as an ASGI app; its state is ``app.state.fake`` (replaceable between tests)."""
    app = FastAPI(title="fake OpenAI API", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.fake = state if state is not None else FakeOpenAIState()
    app.add_middleware(_FakeTransportMiddleware)

    @app.exception_handler(FakeOpenAIError)
    async def fake_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FakeOpenAIError)
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = (
            f"Invalid URL ({request.method} {request.url.path})"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        return FakeOpenAIError(exc.status_code, message).response()

    # --- files

    @app.post("/v1/files")
    async def upload_file(request: Request) -> dict[str, Any]:
        form = await request.form()
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise FakeOpenAIError(400, "Missing required parameter: 'file'.", param="file")
        if not isinstance(purpose, str):
            raise FakeOpenAIError(400, "Missing required parameter: 'purpose'.", param="purpose")
        content = await upload.read()
        return _state(request).create_file(
            filename=upload.filename or "upload.jsonl", purpose=purpose, content=content
        )

    @app.get("/v1/files")
    async def list_files(request: Request) -> dict[str, Any]:
        query = request.query_params
        return _state(request).list_files(
            purpose=query.get("purpose"),
            limit=_int_param(request, "limit", 10_000),
            order=query.get("order", "desc"),
            after=query.get("after"),
        )

    @app.get("/v1/files/{file_id}")
    async def retrieve_file(request: Request, file_id: str) -> dict[str, Any]:
        return _state(request).retrieve_file(file_id)

    @app.get("/v1/files/{file_id}/content")
    async def file_content(request: Request, file_id: str) -> Response:
        content = _state(request).file(file_id).content

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(content), _CONTENT_CHUNK_BYTES):
                yield content[start : start + _CONTENT_CHUNK_BYTES]

        # Content-Length lets the client detect a truncated stream.
        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={"content-length": str(len(content))},
        )

    # --- fine-tuning jobs

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise FakeOpenAIError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
            )
        return _state(request).create_job(body)

    @app.get("/v1/fine_tuning/jobs")
    async def list_jobs(request: Request) -> dict[str, Any]:
        metadata: dict[str, str] = {}
        without_metadata = False
        for key, value in request.query_params.multi_items():
            if key.startswith("metadata[") and key.endswith("]"):
                metadata[key[len("metadata[") : -1]] = value
            elif key == "metadata" and value == "null":
                without_metadata = True
        return _state(request).list_jobs(
            after=request.query_params.get("after"),
            limit=_int_param(request, "limit", 20),
            metadata=metadata,
            without_metadata=without_metadata,
        )

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    async def retrieve_job(request: Request, job_id: str) -> dict[str, Any]:
        return _state(request).retrieve_job(job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    async def list_events(request: Request, job_id: str) -> dict[str, Any]:
        return _state(request).list_events(
            job_id,
            after=request.query_params.get("after"),
            limit=_int_param(request, "limit", 20),
        )

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    async def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
        return _state(request).cancel_job(job_id)

    # --- admin: drive the fake from another process (no auth, not counted, no faults)

    @app.post("/_fake/faults")
    async def add_fault(request: Request, spec: FaultSpec) -> dict[str, Any]:
        _state(request).add_fault(spec)
        return {"ok": True, "fault": spec.model_dump()}

    @app.delete("/_fake/faults")
    async def clear_faults(request: Request) -> dict[str, Any]:
        _state(request).clear_faults()
        return {"ok": True}

    @app.get("/_fake/requests")
    async def request_counts(request: Request) -> dict[str, Any]:
        return {"counts": dict(_state(request).request_counts)}

    @app.post("/_fake/jobs/{job_id}/fail")
    async def fail_job(request: Request, job_id: str, error: _JobErrorBody) -> dict[str, Any]:
        state = _state(request)
        state.fail_job(job_id, code=error.code, message=error.message, param=error.param)
        return state.retrieve_job(job_id)

    @app.post("/_fake/fail_next_job")
    async def fail_next_job(request: Request, error: _JobErrorBody) -> dict[str, Any]:
        _state(request).fail_next_job(code=error.code, message=error.message, param=error.param)
        return {"ok": True}

    return app


class _JobErrorBody(BaseModel):
    code: str = "server_error"
    message: str = "The job failed due to an internal error."
    param: str | None = None


def main(argv: list[str] | None = None) -> None:
    """``python -m service.fakes.openai_api``: serve the fake on a loopback port."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Loopback fake of the OpenAI fine-tuning API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--step-seconds", type=float, default=5.0, help="time each job spends in each state"
    )
    parser.add_argument("--api-key", default=None, help="accept only this bearer token")
    parser.add_argument(
        "--file", action="append", default=[], type=Path, help="pre-upload a .jsonl file"
    )
    args = parser.parse_args(argv)

    state = FakeOpenAIState(step_seconds=args.step_seconds, api_key=args.api_key)
    for path in args.file:
        file_id = state.add_file(path.name, path.read_bytes())
        print(f"{file_id}\t{path}")  # the ids are what a demo script needs
    uvicorn.run(create_fake_openai_app(state), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
