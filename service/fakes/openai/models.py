"""The fine-tunable models and the Models API (``/v1/models``).

The fake keeps its own table instead of reading pricing's catalogue: it stands in for
OpenAI, so a mistake in our catalogue must not be mirrored by the fake and go unnoticed.
``GET /v1/models`` lists the base models, their aliases and the fine-tuned models of
succeeded jobs (owned by the organization), newest last as OpenAI does not promise an order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request

from service.fakes.openai.core import StateCore
from service.fakes.openai.errors import FakeOpenAIError

__all__ = ["FINE_TUNABLE_MODELS", "MODEL_ALIASES", "FineTunableModel", "ModelsMixin", "add_routes"]


@dataclass(frozen=True)
class FineTunableModel:
    id: str
    encoding: str
    example_token_limit: int
    chat: bool


FINE_TUNABLE_MODELS: dict[str, FineTunableModel] = {
    m.id: m
    for m in (
        FineTunableModel("gpt-3.5-turbo-0613", "cl100k_base", 4096, chat=True),
        FineTunableModel("gpt-3.5-turbo-1106", "cl100k_base", 16385, chat=True),
        FineTunableModel("gpt-3.5-turbo-0125", "cl100k_base", 16385, chat=True),
        FineTunableModel("gpt-4-0613", "cl100k_base", 8192, chat=True),
        FineTunableModel("gpt-4o-mini-2024-07-18", "o200k_base", 65536, chat=True),
        FineTunableModel("gpt-4o-2024-08-06", "o200k_base", 65536, chat=True),
        FineTunableModel("gpt-4.1-2025-04-14", "o200k_base", 65536, chat=True),
        FineTunableModel("gpt-4.1-mini-2025-04-14", "o200k_base", 65536, chat=True),
        FineTunableModel("gpt-4.1-nano-2025-04-14", "o200k_base", 65536, chat=True),
        FineTunableModel("babbage-002", "cl100k_base", 16384, chat=False),
        FineTunableModel("davinci-002", "cl100k_base", 16384, chat=False),
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

# The fake does not track release dates; one fixed, plausible timestamp keeps answers stable.
_BASE_MODEL_CREATED = 1_686_588_896


def base_model_of(model: str) -> FineTunableModel:
    """The table entry behind a snapshot or a fine-tuned model (``ft:<base>:...``)."""
    if model.startswith("ft:"):
        model = model.split(":")[1]
    return FINE_TUNABLE_MODELS[model]


class ModelsMixin(StateCore):
    def resolve_model(self, name: str) -> str:
        """The snapshot a job trains ``name`` as, or a 400 like OpenAI's."""
        resolved = MODEL_ALIASES.get(name, name)
        if resolved in FINE_TUNABLE_MODELS:
            return resolved
        # Continued fine-tuning of a model this fake produced.
        with self._lock:
            if name.startswith("ft:") and any(j.fine_tuned_model == name for j in self._job_order):
                return name
        raise FakeOpenAIError(
            400,
            f"Model {name} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        )

    def list_models(self) -> dict[str, Any]:
        with self._lock:
            self.progress_jobs()
            data = [_base_model(m) for m in [*FINE_TUNABLE_MODELS, *MODEL_ALIASES]]
            data.extend(
                {
                    "id": job.fine_tuned_model,
                    "object": "model",
                    "created": job.finished_at or int(job.created),
                    "owned_by": self.organization_id,
                }
                for job in self._job_order
                if job.fine_tuned_model is not None
            )
        return {"object": "list", "data": data}

    def retrieve_model(self, model: str) -> dict[str, Any]:
        for item in self.list_models()["data"]:
            if item["id"] == model:
                return dict(item)
        raise FakeOpenAIError(
            404, f"The model '{model}' does not exist", param="model", code="model_not_found"
        )


def _base_model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _BASE_MODEL_CREATED, "owned_by": "system"}


def _models(request: Request) -> ModelsMixin:
    state: ModelsMixin = request.app.state.fake
    return state


async def list_models(request: Request) -> dict[str, Any]:
    return _models(request).list_models()


async def retrieve_model(request: Request, model: str) -> dict[str, Any]:
    return _models(request).retrieve_model(model)


_ROUTES: tuple[tuple[str, str, Callable[..., Awaitable[Any]]], ...] = (
    ("GET", "/v1/models", list_models),
    ("GET", "/v1/models/{model}", retrieve_model),
)


def add_routes(app: FastAPI) -> None:
    # Registered on the app itself (not an included APIRouter) so the transport middleware
    # can name each request by its route template.
    for method, path, endpoint in _ROUTES:
        app.add_api_route(path, endpoint, methods=[method])
