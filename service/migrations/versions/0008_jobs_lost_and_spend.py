"""jobs: count the checks OpenAI no longer showed a job

Revision ID: 0008_jobs_lost_and_spend
Revises: 0003_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_jobs_lost_and_spend"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("missing_checks", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("missing_since", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("missing_since")
        batch.drop_column("missing_checks")
