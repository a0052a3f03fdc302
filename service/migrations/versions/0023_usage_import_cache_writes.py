"""usage import: the cache-write tokens of each imported bucket

From GPT-5.6 on OpenAI bills prompt-cache writes at a price of their own; the Usage API reports
them as ``input_cache_write_tokens`` (a part of ``input_tokens``). Rows imported before this
revision get 0: until their window is imported again (which replaces every row of the window,
see service/usage_import/store.py), their cache writes count, and are priced, as uncached input.

Revision ID: 0023_usage_import_cache_writes
Revises: 0013_usage_import
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_usage_import_cache_writes"
down_revision = "0013_usage_import"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_imported") as batch:
        batch.add_column(
            sa.Column("input_cache_write_tokens", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_imported") as batch:
        batch.drop_column("input_cache_write_tokens")
