"""The typed async REST client for ratecard's API; the Slack bot talks to the service through it.

It imports nothing but httpx, pydantic and the API schemas, so a client (the bot, a script) can run
in another process or on another host. Every non-2xx answer becomes one `ServiceClientError`
carrying the problem response's fields, so callers show `detail` and branch on `code`.

Money stays a decimal string exactly as the service sent it; rounding for display is the caller's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from service.estimates.schemas import (
    InferenceEstimateOut,
    InferenceRequest,
    TrainingEstimateOut,
    TrainingRequest,
)
from service.planning.schemas import InventoryOut, PlanIn, PlanOut

log = logging.getLogger(__name__)

Epochs = int | Literal["auto"]
# `pool` is the wait for one of the client's connections: callers queue here (backpressure)
# rather than flooding the service with more concurrent requests than it has database connections.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0, pool=120.0)
# Counting tokens of a large upload happens inside the request; allow for it.
FILE_TIMEOUT = httpx.Timeout(connect=5.0, read=900.0, write=900.0, pool=120.0)
DEFAULT_MAX_CONNECTIONS = 8


class ServiceClientError(Exception):
    """A problem response (or a transport failure, status 503 with code "unreachable")."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.extra: dict[str, Any] = dict(extra or {})

    @classmethod
    def from_response(cls, response: httpx.Response) -> ServiceClientError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip()[:300] if response.content else ""
            return cls(
                response.status_code,
                response.reason_phrase or "Error",
                text or response.reason_phrase or "error",
            )
        standard = {"type", "title", "status", "detail", "code"}
        code = body.get("code")
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase or "Error"),
            detail=str(
                body.get("detail") or body.get("title") or response.reason_phrase or "error"
            ),
            code=str(code) if code is not None else None,
            extra={k: v for k, v in body.items() if k not in standard},
        )


class _Lenient(BaseModel):
    # The service may add fields; a client built against an older contract must keep working.
    model_config = ConfigDict(extra="allow")


class JobError(_Lenient):
    code: str | None = None
    message: str | None = None
    param: str | None = None


class JobEvent(_Lenient):
    created_at: str
    level: str
    message: str


class Job(_Lenient):
    id: str
    openai_job_id: str | None = None
    status: str
    model: str
    requested_model: str | None = None
    team: str | None = None
    launched_by: str | None = None
    training_file: str | None = None
    hyperparameters: dict[str, Any] | None = None
    suffix: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    estimate: dict[str, Any] | None = None
    estimated_cost_usd: str | None = None
    actual_cost_usd: str | None = None
    cost_difference_usd: str | None = None
    error: JobError | None = None
    created_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    events: list[JobEvent] = []


class JobPage(_Lenient):
    items: list[Job]
    next_cursor: str | None = None


class BudgetStatus(_Lenient):
    team: str
    monthly_budget_usd: str | None = None
    spent_usd: str | None = None
    remaining_usd: str | None = None
    would_exceed: bool = False


class FineTuningStatus(_Lenient):
    method: str = "supervised"
    last_day: str | None = None
    days_left: int | None = None
    replacement: str | None = None
    warnings: list[str] = []


class JobPreview(_Lenient):
    estimate: dict[str, Any]
    budget: BudgetStatus
    fine_tuning: FineTuningStatus | None = None


class Budget(_Lenient):
    team: str
    monthly_usd: str | None = None


class Subscription(_Lenient):
    id: str
    destination: dict[str, Any]
    follows: dict[str, Any]
    created_by: str | None = None
    created_at: str | None = None
    webhook_secret: str | None = None


class ServiceClient:
    """`async with ServiceClient(url, key) as client: await client.estimate_training(...)`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "ratecard-client",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        headers = {"User-Agent": user_agent, "Accept": "application/json, application/problem+json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ServiceClientError(
                504,
                "Service timed out",
                f"ratecard did not answer {method} {path} in time",
                code="timeout",
            ) from exc
        except httpx.TransportError as exc:
            raise ServiceClientError(
                503,
                "Service unreachable",
                f"could not reach ratecard: {type(exc).__name__}",
                code="unreachable",
            ) from exc
        if response.status_code >= 400:
            raise ServiceClientError.from_response(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    @staticmethod
    def _parse(model: type[Any], data: Any) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ServiceClientError(
                502,
                "Unexpected response",
                f"ratecard answered in an unexpected shape: {exc}",
                code="bad_response",
            ) from exc

    # -- prices ---------------------------------------------------------------------------------

    async def prices(self, *, as_of: date, model: str | None = None) -> dict[str, Any]:
        params: dict[str, str] = {"as_of": as_of.isoformat()}
        if model:
            params["model"] = model
        result: dict[str, Any] = await self._json("GET", "/v1/prices", params=params)
        return result

    # -- estimates ------------------------------------------------------------------------------

    async def estimate_training(self, request: TrainingRequest) -> TrainingEstimateOut:
        data = await self._json(
            "POST",
            "/v1/estimates/training",
            json=request.model_dump(mode="json", exclude_none=True),
        )
        result: TrainingEstimateOut = self._parse(TrainingEstimateOut, data)
        return result

    async def estimate_training_file(
        self,
        *,
        path: Path,
        model: str,
        n_epochs: Epochs = "auto",
        as_of: date | None = None,
        filename: str | None = None,
    ) -> TrainingEstimateOut:
        """Upload a JSONL file for token counting; streamed from disk, never held whole."""
        form = {"model": model, "n_epochs": str(n_epochs)}
        if as_of is not None:
            form["as_of"] = as_of.isoformat()
        with path.open("rb") as fh:
            data = await self._json(
                "POST",
                "/v1/estimates/training/file",
                data=form,
                files={"file": (filename or path.name, fh, "application/jsonl")},
                timeout=FILE_TIMEOUT,
            )
        result: TrainingEstimateOut = self._parse(TrainingEstimateOut, data)
        return result

    async def estimate_inference(self, request: InferenceRequest) -> InferenceEstimateOut:
        data = await self._json(
            "POST",
            "/v1/estimates/inference",
            json=request.model_dump(mode="json", exclude_none=True),
        )
        result: InferenceEstimateOut = self._parse(InferenceEstimateOut, data)
        return result

    # -- jobs -----------------------------------------------------------------------------------

    async def preview_job(self, body: Mapping[str, Any]) -> JobPreview:
        """Estimate and budget check of a launch; creates nothing. Large files: counted upstream."""
        result: JobPreview = self._parse(
            JobPreview,
            await self._json("POST", "/v1/jobs/preview", json=dict(body), timeout=FILE_TIMEOUT),
        )
        return result

    async def launch_job(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> tuple[Job, bool]:
        """Create a job; returns (job, created); created is False when the key replayed a launch."""
        response = await self._request(
            "POST",
            "/v1/jobs",
            json=dict(body),
            timeout=FILE_TIMEOUT,
            headers={"Idempotency-Key": idempotency_key},
        )
        job: Job = self._parse(Job, response.json())
        return job, response.status_code == 201

    async def get_job(self, job_id: str) -> Job:
        result: Job = self._parse(Job, await self._json("GET", f"/v1/jobs/{_segment(job_id)}"))
        return result

    async def list_jobs(
        self,
        *,
        status: str | None = None,
        team: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        params = {
            k: v
            for k, v in {"status": status, "team": team, "limit": limit, "cursor": cursor}.items()
            if v is not None
        }
        data = await self._json("GET", "/v1/jobs", params=params)
        if isinstance(data, list):
            data = {"items": data, "next_cursor": None}
        result: JobPage = self._parse(JobPage, data)
        return result

    async def cancel_job(self, job_id: str) -> Job:
        result: Job = self._parse(
            Job, await self._json("POST", f"/v1/jobs/{_segment(job_id)}/cancel")
        )
        return result

    async def watch_job(self, *, openai_job_id: str, team: str | None = None) -> Job:
        body: dict[str, Any] = {"openai_job_id": openai_job_id}
        if team:
            body["team"] = team
        result: Job = self._parse(Job, await self._json("POST", "/v1/jobs/watch", json=body))
        return result

    # -- budgets --------------------------------------------------------------------------------

    async def list_budgets(self) -> list[Budget]:
        data = await self._json("GET", "/v1/budgets")
        return [self._parse(Budget, item) for item in _items(data, "budgets")]

    async def get_budget(self, team: str) -> Budget:
        result: Budget = self._parse(
            Budget, await self._json("GET", f"/v1/budgets/{_segment(team)}")
        )
        return result

    async def put_budget(self, team: str, *, monthly_usd: str) -> Budget:
        data = await self._json(
            "PUT", f"/v1/budgets/{_segment(team)}", json={"monthly_usd": monthly_usd}
        )
        result: Budget = self._parse(Budget, data)
        return result

    # -- subscriptions --------------------------------------------------------------------------

    async def create_subscription(
        self,
        *,
        destination: Mapping[str, Any],
        follows: Mapping[str, Any],
        created_by: str | None = None,
    ) -> Subscription:
        body: dict[str, Any] = {"destination": dict(destination), "follows": dict(follows)}
        if created_by:
            body["created_by"] = created_by
        result: Subscription = self._parse(
            Subscription, await self._json("POST", "/v1/subscriptions", json=body)
        )
        return result

    async def list_subscriptions(
        self, *, created_by: str | None = None, destination: str | None = None
    ) -> list[Subscription]:
        params = {
            k: v for k, v in {"created_by": created_by, "destination": destination}.items() if v
        }
        data = await self._json("GET", "/v1/subscriptions", params=params)
        return [self._parse(Subscription, item) for item in _items(data, "subscriptions")]

    async def delete_subscription(self, subscription_id: str) -> None:
        await self._request("DELETE", f"/v1/subscriptions/{_segment(subscription_id)}")

    # -- planning (the end of fine-tuning) ------------------------------------------------------

    async def fine_tuned_models(self, *, days: int | None = None) -> InventoryOut:
        params = {} if days is None else {"days": str(days)}
        data = await self._json("GET", "/v1/planning/fine-tuned-models", params=params)
        result: InventoryOut = self._parse(InventoryOut, data)
        return result

    async def migration_plan(self, model: str, request: PlanIn) -> PlanOut:
        data = await self._json(
            "POST",
            f"/v1/planning/fine-tuned-models/{_segment(model)}/scenarios",
            json=request.model_dump(mode="json", exclude_none=True),
        )
        result: PlanOut = self._parse(PlanOut, data)
        return result


def _items(data: Any, name: str) -> list[Any]:
    """A list endpoint's rows, whether it answers a bare list or {"items": [...]}."""
    if isinstance(data, dict):
        data = data.get("items", data.get(name))
    return list(data) if isinstance(data, list) else []


def _segment(value: str) -> str:
    """A user-typed id as one path segment: '../keys' must not walk to another route."""
    return quote(value, safe="")
