"""The product's fake OpenAI (:mod:`service.fakes.openai`) plus the knobs only tests use.

Import the fake from here in tests: :class:`FakeOpenAIState` adds job failures
(:meth:`~FakeOpenAIState.fail_job`, :meth:`~FakeOpenAIState.fail_next_job`) and fault
injection (:meth:`~FakeOpenAIState.inject_fault` or ``POST /_fake/faults``): 429
``rate_limit_exceeded`` with ``retry-after-ms``, 429 ``insufficient_quota``, 5xx, arbitrary
errors, delays, a response that is processed but delivered late (a create that succeeds
upstream while the client times out) and malformed JSON. :func:`create_fake_openai_app` adds
the ``/_fake/...`` admin routes (no auth, not counted, no faults) for driving the fake from
another process.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.fakes import openai as product
from service.fakes.openai import (
    FakeJob,
    FakeOpenAIError,
    ManualClock,
    approximate_text_tokens,
    default_n_epochs,
)
from service.fakes.openai.lifecycle import TERMINAL_STATUSES

__all__ = [
    "FakeOpenAIError",
    "FakeOpenAIState",
    "FaultKind",
    "FaultSpec",
    "ManualClock",
    "approximate_text_tokens",
    "create_fake_openai_app",
    "default_n_epochs",
]

logger = logging.getLogger(__name__)

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


class FakeOpenAIState(product.FakeOpenAIState):
    """The product's fake, plus failure and fault injection."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._faults: list[_ActiveFault] = []
        self._next_job_errors: list[dict[str, Any]] = []

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
            if job.status not in TERMINAL_STATUSES:
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

    def planned_job_error(self) -> dict[str, Any] | None:
        with self._lock:
            return self._next_job_errors.pop(0) if self._next_job_errors else None

    async def dispatch(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, endpoint: str
    ) -> None:
        fault = self._take_fault(scope["method"], scope["path"], endpoint)
        if fault is None:
            await app(scope, receive, send)
            return
        logger.info("fake OpenAI: injecting %s into %s", fault.kind, endpoint)
        if fault.kind == "delay":
            await self._pause(fault.delay_seconds)
            await app(scope, receive, send)
        elif fault.kind == "late_response":
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await app(scope, receive, hold)
            await self._pause(fault.delay_seconds)
            for message in held:
                await send(message)
        elif fault.kind == "malformed":
            truncated = Response(
                b'{"object": "fine_tuning.job", "id": ', media_type="application/json"
            )
            await truncated(scope, receive, send)
        else:
            await _fault_error(fault).response()(scope, receive, send)

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

    async def _pause(self, seconds: float) -> None:
        # Wall-clock (not self.clock): these delays are about wire timing, and they poll
        # release_delays() so a test server can shut down without waiting them out.
        deadline = time.monotonic() + seconds
        while not self._released.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.02))


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


class _JobErrorBody(BaseModel):
    code: str = "server_error"
    message: str = "The job failed due to an internal error."
    param: str | None = None


def _state(request: Request) -> FakeOpenAIState:
    state: FakeOpenAIState = request.app.state.fake
    return state


_admin = APIRouter(prefix="/_fake")


@_admin.post("/faults")
async def add_fault(request: Request, spec: FaultSpec) -> dict[str, Any]:
    _state(request).add_fault(spec)
    return {"ok": True, "fault": spec.model_dump()}


@_admin.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    _state(request).clear_faults()
    return {"ok": True}


@_admin.get("/requests")
async def request_counts(request: Request) -> dict[str, Any]:
    return {"counts": dict(_state(request).request_counts)}


@_admin.post("/jobs/{job_id}/fail")
async def fail_job(request: Request, job_id: str, error: _JobErrorBody) -> dict[str, Any]:
    state = _state(request)
    state.fail_job(job_id, code=error.code, message=error.message, param=error.param)
    return state.retrieve_job(job_id)


@_admin.post("/fail_next_job")
async def fail_next_job(request: Request, error: _JobErrorBody) -> dict[str, Any]:
    _state(request).fail_next_job(code=error.code, message=error.message, param=error.param)
    return {"ok": True}


def create_fake_openai_app(state: FakeOpenAIState | None = None) -> FastAPI:
    """The product's fake app with a test state and the ``/_fake`` admin routes."""
    app = product.create_fake_openai_app(state if state is not None else FakeOpenAIState())
    app.include_router(_admin)
    return app
