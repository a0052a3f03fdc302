"""Tables of the jobs feature: launches and watched jobs, their events, team budgets, the lease."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlmodel import Field, SQLModel

from pricing.money import format_usd
from service.types import Money, UTCDateTime, utcnow

# Launch states that exist only in ratecard (OpenAI never saw, or never confirmed, a job).
LAUNCHING = "launching"
LAUNCH_FAILED = "launch_failed"  # refused before or by OpenAI: nothing was created upstream
LAUNCH_UNKNOWN = "launch_unknown"  # the create may have happened; reconciled before any retry
LAUNCH_STATES = frozenset({LAUNCHING, LAUNCH_FAILED, LAUNCH_UNKNOWN})

# Final states that exist only in ratecard: OpenAI stopped showing the job (after repeated
# checks), and an admin closed such a job.
LOST = "lost"
CLOSED = "closed"
RATECARD_FINAL_STATES = frozenset({LOST, CLOSED})

SOURCE_LAUNCH = "launch"
SPEND_COLUMNS = ("actual_micros", "estimated_micros")
SOURCE_WATCH = "watch"


class Job(SQLModel, table=True):
    """One fine-tuning job: launched through ratecard, or launched elsewhere and watched."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("launcher", "idempotency_key", name="uq_jobs_launcher_idempotency_key"),
        # Covering indexes of the spend report: each grouping reads an index, not the table
        # (on SQLite, 0008 adds one by month, an expression index).
        Index("ix_jobs_spend_by_created", "created_at", "status", *SPEND_COLUMNS),
        Index("ix_jobs_spend_by_team", "team", "status", "created_at", *SPEND_COLUMNS),
        Index("ix_jobs_spend_by_model", "model", "status", "created_at", *SPEND_COLUMNS),
    )

    id: str = Field(
        primary_key=True, max_length=40
    )  # "job_..."; also the launch id sent in metadata
    openai_job_id: str | None = Field(default=None, max_length=100, unique=True)
    source: str = Field(max_length=10)
    status: str = Field(max_length=40, index=True)
    team: str | None = Field(default=None, max_length=100, index=True)
    launched_by: str | None = Field(default=None, max_length=200)
    launcher: str = Field(max_length=100)  # name of the API key that launched or watched it
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_fingerprint: str | None = Field(default=None, max_length=64)
    requested_model: str = Field(max_length=200)
    model: str = Field(max_length=200)
    training_file: str | None = Field(default=None, max_length=200)
    validation_file: str | None = Field(default=None, max_length=200)
    suffix: str | None = Field(default=None, max_length=64)
    seed: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    estimate: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    estimated_cost_usd: Decimal | None = Field(
        default=None, sa_column=Column(Money(), nullable=True)
    )
    trained_tokens: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    fine_tuned_model: str | None = Field(default=None, max_length=300)
    actual_cost_usd: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    actual_price_version: str | None = Field(default=None, max_length=64)
    error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    openai_created_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # Whether training ever started: did a cancelled job without trained_tokens cost anything?
    seen_running: bool = False
    last_event_id: str | None = Field(default=None, max_length=100)
    events_pending: bool = False
    events_fetched_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # The two amounts again as integer micro-dollars (what Money stores, to the digit), for
    # reports that SUM in SQL; kept equal to them on every ORM write (see _mirror_micros).
    estimated_micros: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    actual_micros: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # Consecutive watcher ticks on which OpenAI answered 404 for the job, since when.
    missing_checks: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    missing_since: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


MICROS_PER_USD = 1_000_000


def to_micros(amount: Decimal | None) -> int | None:
    """The amount as Money stores it (6 places, half-even), in integer micro-dollars."""
    return None if amount is None else int(Decimal(format_usd(amount)) * MICROS_PER_USD)


def from_micros(micros: int) -> Decimal:
    return Decimal(micros).scaleb(-6)


@event.listens_for(Job, "before_insert")
@event.listens_for(Job, "before_update")
def _mirror_micros(mapper: Any, connection: Any, job: Job) -> None:
    job.estimated_micros = to_micros(job.estimated_cost_usd)
    job.actual_micros = to_micros(job.actual_cost_usd)


class JobEvent(SQLModel, table=True):
    """A line of a job's timeline: OpenAI's events and ratecard's notes (no openai_event_id)."""

    __tablename__ = "job_events"
    __table_args__ = (
        UniqueConstraint("job_id", "openai_event_id", name="uq_job_events_openai_event"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    job_id: str = Field(
        sa_column=Column(
            String(40), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    openai_event_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    level: str = Field(max_length=20)
    message: str = Field(sa_column=Column(Text, nullable=False))


class TeamBudget(SQLModel, table=True):
    """A team's monthly training budget (calendar month, UTC), set by an admin."""

    __tablename__ = "team_budgets"

    team: str = Field(primary_key=True, max_length=100)
    monthly_usd: Decimal = Field(sa_column=Column(Money(), nullable=False))
    updated_by: str = Field(max_length=100)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class WatcherLease(SQLModel, table=True):
    """Who may poll OpenAI now; taken and renewed with one conditional UPDATE (see watcher)."""

    __tablename__ = "watcher_lease"

    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=200)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acquired_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
