"""Tables of the usage import (schema in migrations/versions/0013_usage_import.py and 0023).

An imported bucket is one result row of ``/organization/usage/completions``: the figure OpenAI
reports for a (model, project, batch, service tier) group in a time bucket. The primary key is that
identity, so fetching a bucket again overwrites it (a late correction replaces the earlier figure,
a repeat is counted once). Absent group fields are stored as "" so they can be part of the key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from service.types import UTCDateTime, utcnow


class ImportedUsage(SQLModel, table=True):
    __tablename__ = "usage_imported"
    __table_args__ = (Index("ix_usage_imported_org_family_start", "org", "family", "start"),)

    org: str = Field(sa_column=Column(String(100), primary_key=True))
    model: str = Field(sa_column=Column(String(200), primary_key=True))  # as OpenAI names it
    start: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    width: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))  # seconds
    project_id: str = Field(sa_column=Column(String(200), primary_key=True))
    batch: bool = Field(sa_column=Column(Boolean, primary_key=True))
    service_tier: str = Field(sa_column=Column(String(50), primary_key=True))
    # The pool the model draws from and its key in the pool's split; "" when the catalogue does
    # not know the model (kept, listed in the run, left out of pools and history).
    family: str = Field(sa_column=Column(String(50), nullable=False))
    model_key: str = Field(sa_column=Column(String(200), nullable=False))
    input_tokens: int = Field(sa_column=Column(BigInteger, nullable=False))
    input_cached_tokens: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Of input_tokens, those written to the prompt cache (billed apart from GPT-5.6 on). Since
    # 0023; rows imported before hold 0 until their window is imported again.
    input_cache_write_tokens: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default="0")
    )
    output_tokens: int = Field(sa_column=Column(BigInteger, nullable=False))
    requests: int = Field(sa_column=Column(BigInteger, nullable=False))
    imported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class UsageImportCursor(SQLModel, table=True):
    """How far (Unix seconds, exclusive) an organisation's usage has been imported completely."""

    __tablename__ = "usage_import_cursor"

    org: str = Field(sa_column=Column(String(100), primary_key=True))
    covered_until: int = Field(sa_column=Column(BigInteger, nullable=False))


class UsageImportRun(SQLModel, table=True):
    __tablename__ = "usage_import_runs"

    id: int | None = Field(default=None, primary_key=True)
    org: str = Field(max_length=100, index=True)
    trigger: str = Field(max_length=20)  # "schedule" or "manual"
    # ok | partial (some windows committed, one failed) | failed | setup_error | not_configured
    outcome: str = Field(max_length=20)
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    buckets: int = 0
    rows: int = 0
    windows: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    models: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    unknown_models: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    errors: list[str] = Field(default_factory=list, sa_column=Column(JSON))
