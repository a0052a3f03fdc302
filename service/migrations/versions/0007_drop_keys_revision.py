"""auth: drop keys_revision again

0006 added a number that key creation and revocation renewed, for replicas to check cached keys
against. A revocation that did not renew it (a replica still running older code during a rolling
deploy, or an UPDATE by hand) went unseen, so the group-commit writer now checks the keys of its
batch against api_keys itself, and the number has no reader left.

Revision ID: 0007_drop_keys_revision
Revises: 0006_keys_revision
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_drop_keys_revision"
down_revision = "0006_keys_revision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reference_revision") as batch:
        batch.drop_column("keys_revision")


def downgrade() -> None:
    with op.batch_alter_table("reference_revision") as batch:
        batch.add_column(
            sa.Column("keys_revision", sa.BigInteger, nullable=False, server_default="0")
        )
