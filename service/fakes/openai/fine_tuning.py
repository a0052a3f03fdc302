"""The fine-tuning jobs API: create, list, retrieve, cancel, events and checkpoints
(``/v1/fine_tuning/jobs``). How jobs progress is :mod:`service.fakes.openai.lifecycle`.

Lists are newest first with an ``after`` cursor; the job list filters by ``metadata[k]=v``
(``metadata=null`` keeps jobs without metadata) and clamps ``limit`` above 100 to 100.
Only the ``supervised`` method is accepted.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request

from service.fakes.openai.core import new_id
from service.fakes.openai.errors import (
    FakeOpenAIError,
    after_cursor,
    int_param,
    optional_str,
    required_str,
)
from service.fakes.openai.lifecycle import TERMINAL_STATUSES, JobLifecycle
from service.fakes.openai.records import FakeJob
from service.fakes.openai.training import parse_hyperparameters

__all__ = ["FineTuningMixin", "add_routes"]

_JOB_LIST_MAX_LIMIT = 100


class FineTuningMixin(JobLifecycle):
    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/fine_tuning/jobs`` with a parsed JSON body."""
        with self._lock:
            self.create_job_requests.append(dict(body))
            model_id = self.resolve_model(required_str(body, "model"))
            training_file = required_str(body, "training_file")
            self._check_fine_tune_file(training_file, "training_file")
            validation_file = optional_str(body, "validation_file")
            if validation_file is not None:
                self._check_fine_tune_file(validation_file, "validation_file")
            suffix = optional_str(body, "suffix")
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
            hyperparameters = parse_hyperparameters(body)

            now = self.clock()
            queued_at = now + self.durations["validating_files"]
            running_at = queued_at + self.durations["queued"]
            job = FakeJob(
                id=new_id("ftjob-", 24),
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
            job.planned_error = self.planned_job_error()
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
            events = after_cursor(events, after, lambda e: e.id, "event")
            page = events[:limit]
            return {
                "object": "list",
                "data": [e.to_api() for e in page],
                "has_more": len(events) > limit,
            }

    def list_checkpoints(
        self, job_id: str, *, after: str | None = None, limit: int = 10
    ) -> dict[str, Any]:
        """Newest (highest step) first, as OpenAI lists them."""
        if limit < 1:
            raise FakeOpenAIError(400, "limit must be at least 1", param="limit")
        with self._lock:
            job = self.job(job_id)
            checkpoints = list(reversed(job.checkpoints))
            checkpoints = after_cursor(checkpoints, after, lambda c: c.id, "checkpoint")
            data = [c.to_api() for c in checkpoints[:limit]]
            return {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(checkpoints) > limit,
            }

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self.job(job_id)
            if job.status in TERMINAL_STATUSES:
                raise FakeOpenAIError(
                    400, f"Job has already completed: {job_id}", param="fine_tuning_job_id"
                )
            now = self.clock()
            job.status = "cancelled"
            job.finished_at = int(now)
            self._emit(job, now, "Fine-tuning job cancelled")
            return job.to_api(self.organization_id)

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


def _metadata_matches(
    job: FakeJob, wanted: Mapping[str, str] | None, without_metadata: bool
) -> bool:
    if without_metadata:
        return not job.metadata
    if not wanted:
        return True
    have = job.metadata or {}
    return all(have.get(k) == v for k, v in wanted.items())


def _fine_tuning(request: Request) -> FineTuningMixin:
    state: FineTuningMixin = request.app.state.fake
    return state


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
    return _fine_tuning(request).create_job(body)


async def list_jobs(request: Request) -> dict[str, Any]:
    metadata: dict[str, str] = {}
    without_metadata = False
    for key, value in request.query_params.multi_items():
        if key.startswith("metadata[") and key.endswith("]"):
            metadata[key[len("metadata[") : -1]] = value
        elif key == "metadata" and value == "null":
            without_metadata = True
    return _fine_tuning(request).list_jobs(
        after=request.query_params.get("after"),
        limit=int_param(request, "limit", 20),
        metadata=metadata,
        without_metadata=without_metadata,
    )


async def retrieve_job(request: Request, job_id: str) -> dict[str, Any]:
    return _fine_tuning(request).retrieve_job(job_id)


async def list_events(request: Request, job_id: str) -> dict[str, Any]:
    return _fine_tuning(request).list_events(
        job_id, after=request.query_params.get("after"), limit=int_param(request, "limit", 20)
    )


async def list_checkpoints(request: Request, job_id: str) -> dict[str, Any]:
    return _fine_tuning(request).list_checkpoints(
        job_id, after=request.query_params.get("after"), limit=int_param(request, "limit", 10)
    )


async def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    return _fine_tuning(request).cancel_job(job_id)


_ROUTES: tuple[tuple[str, str, Callable[..., Awaitable[Any]]], ...] = (
    ("POST", "/v1/fine_tuning/jobs", create_job),
    ("GET", "/v1/fine_tuning/jobs", list_jobs),
    ("GET", "/v1/fine_tuning/jobs/{job_id}", retrieve_job),
    ("GET", "/v1/fine_tuning/jobs/{job_id}/events", list_events),
    ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints", list_checkpoints),
    ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job),
)


def add_routes(app: FastAPI) -> None:
    # Registered on the app itself (not an included APIRouter) so the transport middleware
    # can name each request by its route template.
    for method, path, endpoint in _ROUTES:
        app.add_api_route(path, endpoint, methods=[method])
