"""Reading stored estimates back: one, a page, or every one as CSV for finance.

Finance tooling reads many rows, so the database does the per-row work: it writes each summary's
JSON head and each CSV cell, and the stored JSON documents (`inputs`, `result`) pass through as
the text it holds, never parsed into Python objects only to be encoded again. Python joins text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection

from service.errors import InvalidInput, NotFound
from service.estimates.models import EstimateRecord

_T = EstimateRecord.__table__.c  # type: ignore[attr-defined]
# Stored as its canonical decimal string (service.types.Money): read as it is.
_COST_TEXT = type_coerce(_T.cost_usd, String).label("cost_usd")
_NEWEST_FIRST = (_T.created_at.desc(), _T.id.desc())


def _sql_text(constant: str) -> ColumnElement[Any]:
    """A constant of ours as an SQL string literal: PostgreSQL cannot type a parameter here."""
    return literal_column("'" + constant.replace("'", "''") + "'", Text)


def _created_json(dialect: str, *, utc: str = "Z") -> ColumnElement[Any]:
    """created_at as pydantic writes an aware UTC time: ISO, a 'Z' (or `utc`), no fraction
    when zero."""
    text: ColumnElement[Any]
    if dialect == "sqlite":  # stored as '2026-01-02 03:04:05.000067'
        text = func.replace(type_coerce(_T.created_at, String), " ", "T")
    else:
        text = func.to_char(func.timezone("UTC", _T.created_at), 'YYYY-MM-DD"T"HH24:MI:SS.US')
    return func.replace(text, ".000000", "") + utc


def _head_columns(dialect: str) -> tuple[ColumnElement[Any], ...]:
    """An estimate's summary fields but its JSON documents, as one JSON object the database
    writes (a quarter of the cost of building and encoding each row in Python), and the two
    documents as the text the database holds, to be spliced in."""
    values: dict[str, ColumnElement[Any]] = {
        "id": _T.id,
        "kind": _T.kind,
        "requested_by": _T.requested_by,
        "created_at": _created_json(dialect),
        "model": _T.model,
        "as_of": cast(_T.as_of, Text),
        "price_version": _T.price_version,
        "cost_usd": _COST_TEXT,
    }
    head: ColumnElement[Any]
    if dialect == "sqlite":
        # The names as SQL literals, not parameters (they are the same on every row).
        head = func.json_object(
            *[item for name, value in values.items() for item in (_sql_text(name), value)]
        )
    else:
        # json_build_object spaces its separators; each value is encoded by to_json instead.
        pieces: list[ColumnElement[Any]] = []
        for name, value in values.items():
            pieces.append(_sql_text(("{" if not pieces else ",") + f'"{name}":'))
            pieces.append(func.coalesce(cast(func.to_json(value), Text), _sql_text("null")))
        head = func.concat(*pieces, _sql_text("}"))
    return (
        cast(head, Text).label("head"),
        _T.id,
        cast(_T.inputs, Text).label("inputs"),
        cast(_T.result, Text).label("result"),
    )


def _summary_text(head: str, inputs: str, result: str) -> str:
    return f'{head[:-1]},"inputs":{inputs},"result":{result}}}'


@cache
def _one(dialect: str) -> Select[Any]:
    return select(*_head_columns(dialect)).where(_T.id == bindparam("id"))


@cache
def _page(dialect: str) -> Select[Any]:
    return select(*_head_columns(dialect))


@cache
def _first_page(dialect: str) -> Select[Any]:
    return _page(dialect).order_by(*_NEWEST_FIRST).limit(bindparam("rows"))


def estimate_json(connection: Connection, *, estimate_id: str) -> bytes:
    row = connection.execute(_one(connection.dialect.name), {"id": estimate_id}).first()
    if row is None:
        raise NotFound(f"no estimate {estimate_id}")
    return _summary_text(row.head, row.inputs, row.result).encode()


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
    dialect = connection.dialect.name
    if not cursor and not any(filters.values()):  # the common first page: a prepared query
        rows = connection.execute(_first_page(dialect), {"rows": limit + 1}).all()
        return _page_json(rows, limit)
    query = _filtered(_page(dialect), **filters)
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


def _page_json(rows: Sequence[Any], limit: int) -> bytes:
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    items = ",".join(
        [_summary_text(head, inputs, result) for head, _, inputs, result in rows[:limit]]
    )
    return b'{"items":[' + items.encode() + b'],"next_cursor":' + to_json(next_cursor) + b"}"


CSV_COLUMNS = [
    "id",
    "kind",
    "created_at",
    "requested_by",
    "model",
    "as_of",
    "price_version",
    "cost_usd",
    "billing_tokens",
    "n_epochs",
    "charged_tokens",
    "cost_per_request_usd",
    "cost_per_month_usd",
]
# Fields of the stored result, read by the database (absent ones are NULL, written empty).
_RESULT_FIELDS = CSV_COLUMNS[8:]
# Spreadsheet apps execute cells that start with these characters (CSV injection).
_FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]
ROWS_PER_CHUNK = 1000


def _defused(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A cell that people or publishers name, with a quote before a leading formula character."""
    text = cast(column, Text)
    return case(
        (func.substr(text, 1, 1).in_(_FORMULA_STARTS), _sql_text("'") + text),
        else_=text,
    )


@cache
def _csv_query(dialect: str) -> Select[Any]:
    """Every cell as the text the CSV holds, written by the database: Python hands the rows to
    csv.writer as they come (a million times formatting a time or checking a first character
    in Python was most of an export's cost). Generated ids, kinds, ISO times and dates,
    non-negative amounts and counts cannot start with a formula character and go as they are;
    a field the result lacks is NULL, an empty cell."""
    return select(
        _T.id,
        _T.kind,
        _created_json(dialect, utc="+00:00"),  # as datetime.isoformat() writes it
        _defused(_T.requested_by),
        _defused(_T.model),
        cast(_T.as_of, Text),
        _defused(_T.price_version),
        _COST_TEXT,
        *(_T.result[name].as_string() for name in _RESULT_FIELDS),
    ).order_by(*_NEWEST_FIRST)


def estimates_csv(connection: Connection, **filters: Any) -> Iterator[str]:
    """CSV text for finance, newest first, a chunk of rows at a time: one query streamed from
    the database (a server-side cursor on PostgreSQL), so memory stays flat at any size."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()  # the client sees the export start before the query runs
    query = _filtered(_csv_query(connection.dialect.name), **filters)
    result = connection.execution_options(yield_per=ROWS_PER_CHUNK).execute(query)
    for rows in result.partitions():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        yield buffer.getvalue()
