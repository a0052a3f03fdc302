"""The objects the fake stores, each rendering itself as the API's JSON object."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "CompletionsUsage",
    "CostItem",
    "FakeCheckpoint",
    "FakeEvent",
    "FakeFile",
    "FakeJob",
]


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
class FakeEvent:
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


@dataclass(frozen=True)
class FakeCheckpoint:
    id: str
    job_id: str
    created_at: int
    step_number: int
    fine_tuned_model_checkpoint: str
    metrics: dict[str, float]

    def to_api(self) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": self.id,
            "created_at": self.created_at,
            "fine_tuned_model_checkpoint": self.fine_tuned_model_checkpoint,
            "fine_tuning_job_id": self.job_id,
            "metrics": dict(self.metrics),
            "step_number": self.step_number,
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
    events: list[FakeEvent] = field(default_factory=list)
    checkpoints: list[FakeCheckpoint] = field(default_factory=list)

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
class CompletionsUsage:
    """Completions usage the admin Usage API reports, seeded by tests."""

    at: int
    model: str
    input_tokens: int
    output_tokens: int
    input_cached_tokens: int = 0  # of input_tokens: read from the prompt cache
    input_cache_write_tokens: int = 0  # of input_tokens: written to the prompt cache
    num_model_requests: int = 1
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    batch: bool = False
    service_tier: str | None = "default"


@dataclass(frozen=True)
class CostItem:
    """A cost the admin Costs API reports, seeded by tests (``amount`` in ``currency``)."""

    at: int
    amount: Decimal
    line_item: str
    currency: str = "usd"
    project_id: str | None = None
    api_key_id: str | None = None
    quantity: float | None = None
    quantity_unit: str | None = None
