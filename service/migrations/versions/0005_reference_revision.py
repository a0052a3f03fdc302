"""prices: one revision counter for published versions and overrides

Every replica caches the price book, catalogue and overrides by this number, so a request reads
one row instead of the tables; publishing and override changes set a new number in their own
transaction (which also serialises concurrent publishes).

Revision ID: 0005_reference_revision
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_reference_revision"
down_revision = "0001_core"
branch_labels = ("prices",)
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "reference_revision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("reference_revision")
