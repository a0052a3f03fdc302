"""jobs: count the checks OpenAI no longer showed a job; spend as integer micro-dollars

The spend report adds amounts up in SQL, so each job's estimate and actual cost are kept again
as integer micro-dollars (the Money strings hold 6 places, so the integers are exact). Existing
rows are backfilled from those strings, in Python, to the digit.

Revision ID: 0008_jobs_lost_and_spend
Revises: 0003_jobs
"""

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0008_jobs_lost_and_spend"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BATCH = 1_000


def _micros(text: str | None) -> int | None:
    return None if text is None else int(Decimal(text) * 1_000_000)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("missing_checks", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("missing_since", TS, nullable=True))
        batch.add_column(sa.Column("estimated_micros", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("actual_micros", sa.BigInteger, nullable=True))
    spend = ("actual_micros", "estimated_micros")
    op.create_index("ix_jobs_spend_by_created", "jobs", ["created_at", "status", *spend])
    op.create_index("ix_jobs_spend_by_team", "jobs", ["team", "status", "created_at", *spend])
    op.create_index("ix_jobs_spend_by_model", "jobs", ["model", "status", "created_at", *spend])
    if op.get_bind().dialect.name == "sqlite":
        # By month: SQLite keeps timestamps as ISO text, so the month is its first 7 characters
        # (PostgreSQL hashes the groups and needs no index for it).
        op.create_index(
            "ix_jobs_spend_by_month",
            "jobs",
            [sa.text("substr(created_at, 1, 7)"), "status", "created_at", *spend],
        )
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String),
        sa.column("estimated_cost_usd", sa.String),
        sa.column("actual_cost_usd", sa.String),
        sa.column("estimated_micros", sa.BigInteger),
        sa.column("actual_micros", sa.BigInteger),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(jobs.c.id, jobs.c.estimated_cost_usd, jobs.c.actual_cost_usd).where(
            sa.or_(jobs.c.estimated_cost_usd.is_not(None), jobs.c.actual_cost_usd.is_not(None))
        )
    ).all()
    update = (
        jobs.update()
        .where(jobs.c.id == sa.bindparam("job_id"))
        .values(estimated_micros=sa.bindparam("estimated"), actual_micros=sa.bindparam("actual"))
    )
    for start in range(0, len(rows), BATCH):
        connection.execute(
            update,
            [
                {"job_id": r.id, "estimated": _micros(r[1]), "actual": _micros(r[2])}
                for r in rows[start : start + BATCH]
            ],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_jobs_spend_by_month", table_name="jobs")
    for name in ("ix_jobs_spend_by_model", "ix_jobs_spend_by_team", "ix_jobs_spend_by_created"):
        op.drop_index(name, table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("actual_micros")
        batch.drop_column("estimated_micros")
        batch.drop_column("missing_since")
        batch.drop_column("missing_checks")
