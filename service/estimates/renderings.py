"""An estimate's finished renderings, written once with it and read back as stored text.

An estimate never changes after it is stored, so what the read endpoints send for it is fixed at
write time: its summary exactly as `GET /v1/estimates/{id}` returns it (EstimateSummary's JSON)
and its line of the CSV export. Reading then costs no formatting at all, which is what lets
finance export a year of estimates at a few microseconds a row. The write path and the migration
that filled the rows stored before these columns existed both call `renderings`, so there is one
renderer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from pydantic_core import to_json

from pricing.money import format_usd
from service.csvcells import defused

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
# Fields of the stored result (an estimate whose kind lacks one has an empty cell).
_RESULT_FIELDS = CSV_COLUMNS[8:]


def _defused(value: object) -> str:
    """A cell as text, with a quote before a leading formula character."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else _plain(value)
    return defused(text)


def _plain(value: object) -> str:
    # Counts as their digits; anything else a result might hold as its JSON text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return to_json(value).decode()


def summary_json(row: Mapping[str, Any]) -> str:
    """The stored estimate as EstimateSummary's JSON: its fields in order, an aware UTC time with
    a 'Z', the cost as a decimal string, the inputs and result documents compact."""
    created = row["created_at"].astimezone(UTC)
    return to_json(
        {
            "id": row["id"],
            "kind": row["kind"],
            "requested_by": row["requested_by"],
            "created_at": created,
            "model": row["model"],
            "as_of": row["as_of"],
            "price_version": row["price_version"],
            "cost_usd": format_usd(row["cost_usd"]),
            "inputs": row["inputs"],
            "result": row["result"],
        }
    ).decode()


def csv_line(row: Mapping[str, Any]) -> str:
    """The estimate's line of the CSV export (columns CSV_COLUMNS, with its line ending), every
    cell defused: requested_by is a key's name and model and price_version are given by people."""
    result = row["result"]
    cells = [
        row["id"],
        row["kind"],
        row["created_at"].astimezone(UTC).isoformat(),
        row["requested_by"],
        row["model"],
        row["as_of"].isoformat(),
        row["price_version"],
        format_usd(row["cost_usd"]),
        *(result.get(name) for name in _RESULT_FIELDS),
    ]
    return _csv_text([_defused(cell) for cell in cells])


def csv_header() -> str:
    return _csv_text(CSV_COLUMNS)


def _csv_text(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def renderings(row: Mapping[str, Any]) -> dict[str, str]:
    """The columns that hold an estimate's renderings, for its row."""
    return {"summary": summary_json(row), "csv_line": csv_line(row)}
