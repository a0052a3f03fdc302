"""Response bodies of the usage import API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ImportWindowOut(BaseModel):
    start: datetime
    end: datetime
    width: Literal["1m", "1h", "1d"]
    buckets: int
    rows: int
    committed: bool = Field(description="stored in full; a failed window stores nothing")
    error: str | None = None


class ImportRunOut(BaseModel):
    id: int
    org: str
    trigger: Literal["schedule", "manual"]
    outcome: Literal["ok", "partial", "failed", "setup_error", "not_configured"] = Field(
        description="partial: the windows before the failed one were stored and the next run "
        "resumes after them; setup_error: the admin key was refused (not retried until the "
        "next run)"
    )
    started_at: datetime
    finished_at: datetime | None
    buckets: int
    rows: int
    windows: list[ImportWindowOut]
    models: list[str]
    unknown_models: list[str] = Field(
        description="models the catalogue does not know: stored, left out of pools and history"
    )
    errors: list[str]


class ImportStatusOut(BaseModel):
    org: str
    configured: bool
    setup_error: str | None
    interval_seconds: float
    imported_through: datetime | None = Field(
        description="usage up to here has been imported completely; null before the first import"
    )
    runs: list[ImportRunOut] = Field(description="newest first")
