"""core: API keys, published price versions, overrides, estimates, event outbox

Revision ID: 0001_core
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
    )
    op.create_table(
        "price_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(64), nullable=False, unique=True),
        sa.Column("effective_date", sa.Date, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.Column("published_at", TS, nullable=False),
    )
    op.create_table(
        "price_overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(100), nullable=False, index=True),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("usd_per_1m_tokens", sa.String(40), nullable=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("effective_from", sa.Date, nullable=True),
        sa.Column("effective_until", sa.Date, nullable=True),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("model", "field", name="uq_price_overrides_model_field"),
    )
    op.create_table(
        "estimates",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False, index=True),
        sa.Column("requested_by", sa.String(100), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("price_version", sa.String(64), nullable=False),
        sa.Column("cost_usd", sa.String(40), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(50), nullable=False, index=True),
        sa.Column("subject", sa.String(200), nullable=False, index=True),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_events_dedupe_key"),
    )


def downgrade() -> None:
    for table in ("events", "estimates", "price_overrides", "price_versions", "api_keys"):
        op.drop_table(table)
