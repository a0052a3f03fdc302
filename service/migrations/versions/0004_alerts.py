"""alerts: subscriptions and the delivery outbox

Revision ID: 0004_alerts
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_alerts"
down_revision = "0001_core"
branch_labels = ("alerts",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_subscriptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("destination_type", sa.String(20), nullable=False),
        sa.Column("slack_channel", sa.String(40), nullable=True, index=True),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("webhook_secret", sa.String(200), nullable=True),
        sa.Column("follows_type", sa.String(20), nullable=False, index=True),
        sa.Column("follows_job_id", sa.String(100), nullable=True, index=True),
        sa.Column("follows_team", sa.String(100), nullable=True, index=True),
        sa.Column("follows_family", sa.String(100), nullable=True, index=True),
        sa.Column("threshold_pct", sa.Integer, nullable=True),
        sa.Column("created_by", sa.String(100), nullable=True, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("disabled_at", TS, nullable=True),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("webhook_id", sa.String(40), nullable=False, unique=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False, index=True),
        sa.Column(
            "subscription_id",
            sa.String(40),
            sa.ForeignKey("alert_subscriptions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("event_kind", sa.String(50), nullable=False, index=True),
        sa.Column("subject", sa.String(200), nullable=False, index=True),
        sa.Column("destination_type", sa.String(20), nullable=False),
        sa.Column("destination", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("retrying_since", TS, nullable=False),
        sa.Column("claim_token", sa.String(40), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("last_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.UniqueConstraint(
            "event_id", "subscription_id", name="uq_alert_deliveries_event_subscription"
        ),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_due", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_subscriptions")
