"""estimates: each estimate's finished renderings, its summary JSON and its CSV line, and an index
the CSV export reads alone

The read endpoints send these as stored instead of formatting every row on every read. Rows
stored before are rendered here, a batch at a time in id order, by the same function the write
path calls (service.estimates.renderings), so the columns are never NULL afterwards.

Revision ID: 0020_estimate_renderings
Revises: 0007_drop_keys_revision
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from service.estimates.renderings import renderings
from service.types import Money, UTCDateTime

revision = "0020_estimate_renderings"
down_revision = "0007_drop_keys_revision"
branch_labels = None
depends_on = None

BATCH = 1000
# The columns as 0001_core made them, read back as the write path had them in hand.
_estimates = sa.table(
    "estimates",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("requested_by", sa.String),
    sa.column("created_at", UTCDateTime()),
    sa.column("model", sa.String),
    sa.column("as_of", sa.Date),
    sa.column("price_version", sa.String),
    sa.column("cost_usd", Money()),
    sa.column("inputs", sa.JSON),
    sa.column("result", sa.JSON),
    sa.column("summary", sa.Text),
    sa.column("csv_line", sa.Text),
)
_c = _estimates.c
_READ = (
    sa.select(
        _c.id,
        _c.kind,
        _c.requested_by,
        _c.created_at,
        _c.model,
        _c.as_of,
        _c.price_version,
        _c.cost_usd,
        _c.inputs,
        _c.result,
    )
    .where(_c.id > sa.bindparam("after"))
    .order_by(_c.id)
    .limit(BATCH)
)
_WRITE = (
    _estimates.update()
    .where(_c.id == sa.bindparam("row_id"))
    .values(summary=sa.bindparam("summary"), csv_line=sa.bindparam("csv_line"))
)


def _backfill(connection: sa.Connection) -> None:
    after = ""
    while rows := connection.execute(_READ, {"after": after}).mappings().all():
        updates: list[dict[str, Any]] = [{"row_id": r["id"], **renderings(dict(r))} for r in rows]
        connection.execute(_WRITE, updates)
        after = rows[-1]["id"]


def upgrade() -> None:
    with op.batch_alter_table("estimates") as batch:
        batch.add_column(sa.Column("summary", sa.Text, nullable=True))
        batch.add_column(sa.Column("csv_line", sa.Text, nullable=True))
    _backfill(op.get_bind())
    with op.batch_alter_table("estimates") as batch:
        batch.alter_column("summary", existing_type=sa.Text, nullable=False)
        batch.alter_column("csv_line", existing_type=sa.Text, nullable=False)
    # Newest first by (created_at, id) with each line in the index itself: the export reads the
    # index alone (on SQLite the rows, which hold the documents twice, often overflow a page).
    op.create_index("ix_estimates_export", "estimates", ["created_at", "id", "csv_line"])


def downgrade() -> None:
    op.drop_index("ix_estimates_export", table_name="estimates")
    with op.batch_alter_table("estimates") as batch:
        batch.drop_column("csv_line")
        batch.drop_column("summary")
