"""Each estimate's renderings, stored with it: what the reads send must be what was answered."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.estimates.models import EstimateRecord
from service.estimates.renderings import CSV_COLUMNS, csv_line, renderings, summary_json
from service.estimates.schemas import EstimateSummary

TOY = Path(__file__).resolve().parents[3] / "pricing" / "data" / "sample_chat.jsonl"
TRAINING = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}
INFERENCE = {
    "model": "gpt-3.5-turbo",
    "as_of": "2024-01-01",
    "workload": {"prompt_tokens": 900, "completion_tokens": 90, "requests_per_day": 50},
    "fine_tune_prompt_cut": 0.4,
    "scenarios": [{"model": "gpt-4", "name": "big"}],
}
_TABLE = EstimateRecord.__table__  # type: ignore[attr-defined]


def _posted(api: Any) -> list[dict[str, Any]]:
    responses = [
        api.admin.post("/v1/estimates/training", json=TRAINING),
        api.admin.post("/v1/estimates/inference", json=INFERENCE),
        api.admin.post(
            "/v1/estimates/training/file",
            data={"model": "gpt-3.5-turbo", "as_of": "2024-06-01"},
            files={"file": ("toy.jsonl", TOY.read_bytes(), "application/jsonl")},
        ),
    ]
    assert [r.status_code for r in responses] == [201, 201, 201]
    return [r.json() for r in responses]


def _stored(api: Any, estimate_id: str) -> dict[str, Any]:
    with api.app.state.engine.connect() as connection:
        row = connection.execute(select(_TABLE).where(_TABLE.c.id == estimate_id)).one()
    return dict(row._mapping)


def test_renderings__the_stored_summary_is_the_answer_given_and_the_documented_encoding(api):
    for answer in _posted(api):
        stored = _stored(api, answer["id"])
        summary = json.loads(stored["summary"])
        assert summary["result"] == answer  # what the client was answered when it was stored
        # The summary pydantic writes from the row's own columns, byte for byte.
        columns = {k: v for k, v in stored.items() if k in EstimateSummary.model_fields}
        columns["cost_usd"] = str(columns["cost_usd"])
        assert stored["summary"] == EstimateSummary.model_validate(columns).model_dump_json()
        read = api.admin.get(f"/v1/estimates/{answer['id']}")
        assert read.content == stored["summary"].encode()


def test_renderings__the_stored_csv_line_is_the_exports_line_for_the_answer(api):
    answers = {a["id"]: a for a in _posted(api)}
    export = api.admin.get("/v1/estimates.csv").text
    lines = export.splitlines(keepends=True)
    assert lines[0] == ",".join(CSV_COLUMNS) + "\r\n"
    for line in lines[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        answer = answers[cells[0]]
        assert line == _stored(api, answer["id"])["csv_line"]
        assert cells[7] == (answer.get("cost_usd") or answer["cost_per_month_usd"])
        assert cells[8:11] == [str(answer.get(k, "")) for k in CSV_COLUMNS[8:11]]


def _row(**changes: Any) -> dict[str, Any]:
    row = {
        "id": "est_0123456789abcdef",
        "kind": "training",
        "requested_by": "ops",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "model": "gpt-4o-mini",
        "as_of": date(2026, 1, 1),
        "price_version": "2026-01-01",
        "cost_usd": Decimal("1.5"),
        "inputs": {"note": "Zoë"},
        "result": {"billing_tokens": 10, "n_epochs": 2, "charged_tokens": 20},
    }
    return {**row, **changes}


def test_renderings__cells_people_name_are_defused_and_quoted():
    row = _row(requested_by='=HYPERLINK("x"),team', model="+gpt", price_version="@v")
    cells = next(csv.reader(io.StringIO(csv_line(row))))
    assert cells[3:5] == ['\'=HYPERLINK("x"),team', "'+gpt"]
    assert cells[6] == "'@v"
    assert csv_line(row).endswith("\r\n")


def test_renderings__absent_and_null_result_fields_are_empty_cells():
    row = _row(kind="inference", result={"n_epochs": None, "cost_per_month_usd": "3.00"})
    cells = next(csv.reader(io.StringIO(csv_line(row))))
    assert cells[8:] == ["", "", "", "", "3.00"]


def test_renderings__times_are_utc_with_a_z_in_json_and_an_offset_in_csv():
    row = _row(created_at=datetime(2026, 1, 2, 3, 4, 5, 67, tzinfo=UTC))
    assert '"created_at":"2026-01-02T03:04:05.000067Z"' in summary_json(row)
    assert ",2026-01-02T03:04:05.000067+00:00," in csv_line(row)
    assert '"created_at":"2026-01-02T03:04:05Z"' in summary_json(_row())
    assert '"cost_usd":"1.50"' in summary_json(_row())
    assert renderings(row) == {"summary": summary_json(row), "csv_line": csv_line(row)}


def test_renderings__format_changes_come_with_a_migration_that_renders_again() -> None:
    """Every stored estimate keeps the summary and CSV line it was rendered with. A change to
    the export's columns or to EstimateSummary's fields reaches new estimates only: whoever makes
    it must add a migration that renders the stored ones again (as 0020 rendered the first), or
    old and new rows would differ in one export. Then update this list."""
    from service.estimates.renderings import CSV_COLUMNS
    from service.estimates.schemas import EstimateSummary

    assert list(EstimateSummary.model_fields) == [
        "id", "kind", "requested_by", "created_at", "model", "as_of", "price_version",
        "cost_usd", "inputs", "result",
    ]  # fmt: skip
    assert CSV_COLUMNS == [
        "id", "kind", "created_at", "requested_by", "model", "as_of", "price_version", "cost_usd",
        "billing_tokens", "n_epochs", "charged_tokens", "cost_per_request_usd",
        "cost_per_month_usd",
    ]  # fmt: skip
