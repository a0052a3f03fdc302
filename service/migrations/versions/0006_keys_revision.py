"""auth: a revision number for API keys beside the price reference's

Replicas cache authenticated keys by this number; creating or revoking a key sets a new one in
the same transaction, so every replica refuses a revoked key on its next write.

Revision ID: 0006_keys_revision
Revises: 0005_reference_revision
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_keys_revision"
down_revision = "0005_reference_revision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reference_revision") as batch:
        batch.add_column(
            sa.Column("keys_revision", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("reference_revision") as batch:
        batch.drop_column("keys_revision")
