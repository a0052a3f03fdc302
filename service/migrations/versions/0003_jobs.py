"""jobs: launched and watched fine-tuning jobs, their events, team budgets, the watcher lease

Revision ID: 0003_jobs
Revises: 0001_core
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003_jobs"
down_revision = "0001_core"
branch_labels = ("jobs",)
depends_on = None

TS = sa.DateTime(timezone=True)
MONEY = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("openai_job_id", sa.String(100), nullable=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("status", sa.String(40), nullable=False, index=True),
        sa.Column("team", sa.String(100), nullable=True, index=True),
        sa.Column("launched_by", sa.String(200), nullable=True),
        sa.Column("launcher", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_fingerprint", sa.String(64), nullable=True),
        sa.Column("requested_model", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("training_file", sa.String(200), nullable=True),
        sa.Column("validation_file", sa.String(200), nullable=True),
        sa.Column("suffix", sa.String(64), nullable=True),
        sa.Column("seed", sa.BigInteger, nullable=True),
        sa.Column("hyperparameters", sa.JSON, nullable=False),
        sa.Column("estimate", sa.JSON, nullable=True),
        sa.Column("estimated_cost_usd", MONEY, nullable=True),
        sa.Column("trained_tokens", sa.BigInteger, nullable=True),
        sa.Column("fine_tuned_model", sa.String(300), nullable=True),
        sa.Column("actual_cost_usd", MONEY, nullable=True),
        sa.Column("actual_price_version", sa.String(64), nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("openai_created_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("seen_running", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_event_id", sa.String(100), nullable=True),
        sa.Column("events_pending", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("events_fetched_at", TS, nullable=True),
        sa.UniqueConstraint("openai_job_id", name="uq_jobs_openai_job_id"),
        sa.UniqueConstraint("launcher", "idempotency_key", name="uq_jobs_launcher_idempotency_key"),
    )
    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(40),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("openai_event_id", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.UniqueConstraint("job_id", "openai_event_id", name="uq_job_events_openai_event"),
    )
    op.create_table(
        "team_budgets",
        sa.Column("team", sa.String(100), primary_key=True),
        sa.Column("monthly_usd", MONEY, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    lease = op.create_table(
        "watcher_lease",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("acquired_at", TS, nullable=True),
    )
    # The row exists from the start so that taking the lease is always one conditional UPDATE.
    op.bulk_insert(
        lease,
        [
            {
                "name": "job-watcher",
                "holder": "",
                "expires_at": datetime(2000, 1, 1, tzinfo=UTC),
                "acquired_at": None,
            }
        ],
    )


def downgrade() -> None:
    for table in ("watcher_lease", "team_budgets", "job_events", "jobs"):
        op.drop_table(table)
