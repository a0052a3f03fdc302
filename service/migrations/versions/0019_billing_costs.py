"""billing: OpenAI's daily costs, their imports, summary subscriptions

Revision ID: 0019_billing_costs
Revises: 0004_alerts
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_billing_costs"
down_revision = "0004_alerts"  # the summary is an alert subscription
branch_labels = ("billing",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "billing_cost_lines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sa.Column("project_id", sa.String(200), nullable=False),
        sa.Column("line_item", sa.String(300), nullable=False),
        sa.Column("currency", sa.String(10), nullable=False),
        sa.Column("amount", sa.String(60), nullable=False),
        sa.Column("quantity", sa.String(60), nullable=True),
        sa.Column("quantity_unit", sa.String(50), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(20), nullable=True),
        sa.Column("component", sa.String(30), nullable=True),
        sa.Column("fine_tuned", sa.Boolean, nullable=False),
        sa.Column("import_id", sa.Integer, nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.UniqueConstraint(
            "day", "project_id", "line_item", "currency", name="uq_billing_cost_lines_key"
        ),
    )
    op.create_index("ix_billing_cost_lines_model_day", "billing_cost_lines", ["model", "day"])
    op.create_table(
        "billing_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_day", sa.Date, nullable=False),
        sa.Column("end_day", sa.Date, nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", TS, nullable=False, index=True),
        sa.Column("finished_at", TS, nullable=True),
    )
    # The reconciliation summary is an alert subscription that follows a period.
    with op.batch_alter_table("alert_subscriptions") as batch:
        batch.add_column(sa.Column("follows_period", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_subscriptions") as batch:
        batch.drop_column("follows_period")
    op.drop_table("billing_imports")
    op.drop_index("ix_billing_cost_lines_model_day", table_name="billing_cost_lines")
    op.drop_table("billing_cost_lines")
