"""Reading stored estimates back: one, a page, or every one as CSV for finance.

Each estimate was rendered once when it was stored (service.estimates.renderings): its summary
as `GET /v1/estimates/{id}` sends it and its line of the CSV export. Reads select that text and
join it; nothing is parsed, formatted or encoded per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.engine import Connection, Row

from service.auth.service import with_live_key
from service.errors import InvalidInput, NotFound
from service.estimates.models import EstimateRecord
from service.estimates.renderings import csv_header

_TABLE = EstimateRecord.__table__  # type: ignore[attr-defined]
_T = _TABLE.c
_NEWEST_FIRST = (_T.created_at.desc(), _T.id.desc())
ROWS_PER_CHUNK = 1000

# The estimate and the check that the caller's key is still live, in one statement.
_ONE = with_live_key(_TABLE, _T.id == bindparam("id"), _T.summary)
_PAGE = select(_T.id, _T.summary)
_FIRST_PAGE = _PAGE.order_by(*_NEWEST_FIRST).limit(bindparam("rows"))
_CSV = select(_T.csv_line).order_by(*_NEWEST_FIRST)


def estimate_for_key(connection: Connection, key_id: int, *, estimate_id: str) -> Row[Any] | None:
    """The estimate's stored summary (None in `.summary` when there is no such estimate), or no
    row at all when key `key_id` is not live (service.deps.keyed_read)."""
    return connection.execute(_ONE, {"key_id": key_id, "id": estimate_id}).first()


def estimate_json(row: Row[Any], *, estimate_id: str) -> bytes:
    summary: str | None = row.summary
    if summary is None:
        raise NotFound(f"no estimate {estimate_id}")
    return summary.encode()


def _filtered(
    query: Select[Any],
    *,
    kind: str | None = None,
    model: str | None = None,
    requested_by: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
) -> Select[Any]:
    if kind:
        query = query.where(_T.kind == kind)
    if model:
        query = query.where(_T.model == model)
    if requested_by:
        query = query.where(_T.requested_by == requested_by)
    if created_from:
        query = query.where(
            _T.created_at >= datetime.combine(created_from, datetime.min.time(), UTC)
        )
    if created_to:
        query = query.where(_T.created_at < datetime.combine(created_to, datetime.max.time(), UTC))
    return query


def estimates_page_json(
    connection: Connection, *, limit: int = 50, cursor: str | None = None, **filters: Any
) -> bytes:
    """A page of estimates, newest first, as EstimatePage documents it."""
    if not cursor and not any(filters.values()):  # the common first page: a prepared query
        rows = connection.execute(_FIRST_PAGE, {"rows": limit + 1}).all()
        return _page_json(rows, limit)
    query = _filtered(_PAGE, **filters)
    if cursor:
        anchor = connection.execute(select(_T.created_at).where(_T.id == cursor)).first()
        if anchor is None:
            raise InvalidInput(f"unknown cursor {cursor!r}")
        query = query.where(
            or_(
                _T.created_at < anchor.created_at,
                and_(_T.created_at == anchor.created_at, _T.id < cursor),
            )
        )
    rows = connection.execute(query.order_by(*_NEWEST_FIRST).limit(limit + 1)).all()
    return _page_json(rows, limit)


def _page_json(rows: Sequence[Row[Any]], limit: int) -> bytes:
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    items = ",".join([row.summary for row in rows[:limit]])
    return b'{"items":[' + items.encode() + b'],"next_cursor":' + to_json(next_cursor) + b"}"


def estimates_csv(connection: Connection, **filters: Any) -> Iterator[str]:
    """CSV text for finance, newest first, a chunk of rows at a time: the stored lines of one
    query streamed from the database (a server-side cursor on PostgreSQL), so memory stays flat
    at any size."""
    yield csv_header()  # the client sees the export start before the query runs
    query = _filtered(_CSV, **filters)
    result = connection.execution_options(yield_per=ROWS_PER_CHUNK).execute(query)
    for lines in result.scalars().partitions():
        yield "".join(lines)
