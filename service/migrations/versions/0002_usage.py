"""usage: TPM/RPM counters in 10-s buckets, request-id de-duplication, pool limits, alert state

Revision ID: 0002_usage
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_usage"
down_revision = "0001_core"
branch_labels = ("usage",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "usage_buckets",
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("family", sa.String(50), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("org", "family", "bucket", "model", name="pk_usage_buckets"),
    )
    op.create_index("ix_usage_buckets_org_bucket", "usage_buckets", ["org", "bucket"])
    op.create_table(
        "usage_request_ids",
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("event_ts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("org", "request_id", name="pk_usage_request_ids"),
    )
    op.create_index("ix_usage_request_ids_event_ts", "usage_request_ids", ["event_ts"])
    op.create_table(
        "usage_pools",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("family", sa.String(50), nullable=False),
        sa.Column("configured_tokens_per_minute", sa.BigInteger, nullable=True),
        sa.Column("configured_requests_per_minute", sa.BigInteger, nullable=True),
        sa.Column("configured_by", sa.String(100), nullable=True),
        sa.Column("configured_at", TS, nullable=True),
        sa.Column("learned_tokens_per_minute", sa.BigInteger, nullable=True),
        sa.Column("learned_requests_per_minute", sa.BigInteger, nullable=True),
        sa.Column("learned_from_model", sa.String(200), nullable=True),
        sa.Column("remaining_tokens", sa.BigInteger, nullable=True),
        sa.Column("remaining_requests", sa.BigInteger, nullable=True),
        sa.Column("tokens_reset_at", TS, nullable=True),
        sa.Column("requests_reset_at", TS, nullable=True),
        sa.Column("observed_at", TS, nullable=True),
        sa.Column("alert_state", sa.String(10), nullable=False, server_default="below"),
        sa.Column("alert_transitions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("alert_changed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("org", "family", name="uq_usage_pools_org_family"),
    )


def downgrade() -> None:
    op.drop_table("usage_pools")
    op.drop_index("ix_usage_request_ids_event_ts", table_name="usage_request_ids")
    op.drop_table("usage_request_ids")
    op.drop_index("ix_usage_buckets_org_bucket", table_name="usage_buckets")
    op.drop_table("usage_buckets")
