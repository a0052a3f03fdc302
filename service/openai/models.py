"""Pydantic models of the OpenAI objects the client returns.

Shapes follow ``shared/reference/openai-openapi.yaml`` (OpenAIFile, FineTuningJob,
FineTuningJobEvent and the list responses) but are deliberately tolerant: unknown fields are
kept (``extra="allow"``), most fields are optional, and ``status`` is a plain ``str`` so a
status OpenAI adds tomorrow is recorded instead of failing validation. Code that decides
"is it finished?" must use :attr:`FineTuningJob.is_terminal`, which is False for anything
it does not know.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "JOB_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "FineTuningHyperparameters",
    "FineTuningJob",
    "FineTuningJobError",
    "FineTuningJobEvent",
    "FineTuningJobEventPage",
    "FineTuningJobPage",
    "ModelList",
    "OpenAIFile",
    "OpenAIModel",
    "Page",
]

JOB_STATUSES: tuple[str, ...] = (
    "validating_files",
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
TERMINAL_JOB_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class _OpenAIObject(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class OpenAIFile(_OpenAIObject):
    id: str
    object: str = "file"
    bytes: int | None = None
    created_at: int | None = None
    expires_at: int | None = None
    filename: str | None = None
    purpose: str | None = None
    status: str | None = None
    status_details: str | None = None


class FineTuningHyperparameters(_OpenAIObject):
    # "auto" until OpenAI has resolved the value (after file validation), then a number.
    n_epochs: int | str | None = None
    batch_size: int | str | None = None
    learning_rate_multiplier: float | str | None = None


class FineTuningJobError(_OpenAIObject):
    code: str | None = None
    message: str | None = None
    param: str | None = None


class FineTuningJob(_OpenAIObject):
    id: str
    object: str = "fine_tuning.job"
    created_at: int
    status: str
    model: str
    training_file: str | None = None
    validation_file: str | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    organization_id: str | None = None
    result_files: list[str] = Field(default_factory=list)
    trained_tokens: int | None = None
    hyperparameters: FineTuningHyperparameters | None = None
    error: FineTuningJobError | None = None
    seed: int | None = None
    estimated_finish: int | None = None
    metadata: dict[str, str] | None = None
    method: dict[str, Any] | None = None
    integrations: list[Any] | None = None

    @property
    def is_terminal(self) -> bool:
        """True only for the documented terminal statuses; unknown statuses are not final."""
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def failure(self) -> FineTuningJobError | None:
        """The error object if it says anything (OpenAI sometimes sends an empty one)."""
        if self.error is None or not (self.error.code or self.error.message):
            return None
        return self.error

    @property
    def resolved_n_epochs(self) -> int | None:
        """Epochs actually used, once OpenAI has resolved ``auto``; None before that.

        Newer jobs report hyperparameters under ``method.<type>.hyperparameters`` and may
        leave the top-level (deprecated) field empty, so both places are consulted.
        """
        candidates: list[object] = []
        if self.hyperparameters is not None:
            candidates.append(self.hyperparameters.n_epochs)
        if self.method:
            section = self.method.get(str(self.method.get("type", "")))
            if isinstance(section, dict):
                params = section.get("hyperparameters")
                if isinstance(params, dict):
                    candidates.append(params.get("n_epochs"))
        for value in candidates:
            # bool is an int subclass; a True here would be a malformed response, not 1 epoch.
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None


class FineTuningJobEvent(_OpenAIObject):
    id: str
    object: str = "fine_tuning.job.event"
    created_at: int
    level: str = "info"
    message: str = ""
    type: str | None = None
    data: dict[str, Any] | None = None


ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(BaseModel, Generic[ItemT]):
    """One page of a cursor-paginated list (``after`` = id of the last item seen)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    object: str = "list"
    data: list[ItemT]
    has_more: bool = False

    @property
    def last_id(self) -> str | None:
        """The cursor to pass as ``after`` for the next page."""
        if not self.data:
            return None
        last = self.data[-1]
        item_id = getattr(last, "id", None)
        return item_id if isinstance(item_id, str) else None


class OpenAIModel(_OpenAIObject):
    """An entry of ``GET /models``: a base model, or one of the organisation's fine-tunes."""

    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None


FineTuningJobPage = Page[FineTuningJob]
ModelList = Page[OpenAIModel]
FineTuningJobEventPage = Page[FineTuningJobEvent]
