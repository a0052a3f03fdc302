"""usage import: buckets of OpenAI's Usage API, the import cursor and the runs

Revision ID: 0013_usage_import
Revises: 0002_usage
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_usage_import"
down_revision = "0002_usage"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "usage_imported",
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("width", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("project_id", sa.String(200), nullable=False),
        sa.Column("batch", sa.Boolean, nullable=False),
        sa.Column("service_tier", sa.String(50), nullable=False),
        sa.Column("family", sa.String(50), nullable=False),
        sa.Column("model_key", sa.String(200), nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("input_cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint(
            "org",
            "model",
            "start",
            "width",
            "project_id",
            "batch",
            "service_tier",
            name="pk_usage_imported",
        ),
    )
    op.create_index(
        "ix_usage_imported_org_family_start", "usage_imported", ["org", "family", "start"]
    )
    op.create_table(
        "usage_import_cursor",
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("covered_until", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("org", name="pk_usage_import_cursor"),
    )
    op.create_table(
        "usage_import_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("buckets", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("windows", sa.JSON, nullable=True),
        sa.Column("models", sa.JSON, nullable=True),
        sa.Column("unknown_models", sa.JSON, nullable=True),
        sa.Column("errors", sa.JSON, nullable=True),
    )
    op.create_index("ix_usage_import_runs_org", "usage_import_runs", ["org"])


def downgrade() -> None:
    op.drop_table("usage_import_runs")
    op.drop_table("usage_import_cursor")
    op.drop_index("ix_usage_imported_org_family_start", table_name="usage_imported")
    op.drop_table("usage_imported")
