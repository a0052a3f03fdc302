"""ui: the dashboard's server-side sessions (the digest of each cookie token, never the token)

Revision ID: 0022_ui_sessions
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_ui_sessions"
down_revision = "0001_core"
branch_labels = ("ui",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column(
            "key_id",
            sa.Integer,
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("ui_sessions")
