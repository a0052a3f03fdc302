"""Reading stored estimates: one, a page and the CSV export say exactly what was stored."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select, text

from pricing.money import format_usd
from service.auth.last_used import LastUsed
from service.auth.service import create_key
from service.db import session_scope
from service.estimates.models import EstimateRecord
from service.estimates.reads import ROWS_PER_CHUNK, estimates_csv
from service.estimates.renderings import renderings
from service.estimates.schemas import EstimatePage, EstimateSummary
from tests.service.conftest import client_for

SEED = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}
INFERENCE = {
    "model": "gpt-3.5-turbo",
    "as_of": "2024-01-01",
    "workload": {"prompt_tokens": 900, "completion_tokens": 90, "requests_per_day": 50},
    "scenarios": [{"model": "gpt-4", "name": "big"}],
}


def _store_two(api: Any, client: Any) -> list[dict[str, Any]]:
    training = client.post("/v1/estimates/training", json=SEED)
    inference = client.post("/v1/estimates/inference", json=INFERENCE)
    assert training.status_code == inference.status_code == 201
    return [training.json(), inference.json()]


def test_get__one_estimate_is_exactly_its_documented_summary(api):
    for posted in _store_two(api, api.admin):
        r = api.admin.get(f"/v1/estimates/{posted['id']}")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        one = r.json()
        assert EstimateSummary.model_validate(one).model_dump(mode="json") == one
        assert one["result"] == posted
        assert one["requested_by"] == "admin"
        assert one["created_at"].endswith("Z")
        assert Decimal(one["cost_usd"]) > 0


def test_list__a_page_carries_the_same_summaries_as_reading_each(api):
    posted = _store_two(api, api.admin)
    r = api.admin.get("/v1/estimates", params={"limit": 1})
    page = r.json()
    assert EstimatePage.model_validate(page).model_dump(mode="json") == page
    assert [i["id"] for i in page["items"]] == [posted[1]["id"]]  # newest first
    rest = api.admin.get("/v1/estimates", params={"limit": 5, "cursor": page["next_cursor"]})
    assert rest.json()["next_cursor"] is None
    for item in page["items"] + rest.json()["items"]:
        assert item == api.admin.get(f"/v1/estimates/{item['id']}").json()


def test_list__an_unknown_cursor_is_422(api):
    r = api.admin.get("/v1/estimates", params={"cursor": "est_nope"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _expected_csv(items: list[dict[str, Any]]) -> str:
    """The export as finance has always received it, built from the JSON summaries."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
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
    )
    for i in items:
        created = datetime.fromisoformat(i["created_at"]).astimezone(UTC).isoformat()
        result = i["result"]
        writer.writerow(
            _cell(v)
            for v in [
                i["id"],
                i["kind"],
                created,
                i["requested_by"],
                i["model"],
                i["as_of"],
                i["price_version"],
                format_usd(Decimal(i["cost_usd"])),
                *(
                    result.get(k, "")
                    for k in (
                        "billing_tokens",
                        "n_epochs",
                        "charged_tokens",
                        "cost_per_request_usd",
                        "cost_per_month_usd",
                    )
                ),
            ]
        )
    return buffer.getvalue()


def test_csv__rows_are_the_stored_estimates_with_formula_cells_defused(api):
    with session_scope(api.app.state.engine) as session:
        _, secret = create_key(session, name='=HYPERLINK("x"),team', scopes=["estimate"])
    with client_for(api.app, secret) as formula:
        _store_two(api, formula)
    _store_two(api, api.admin)
    items = api.admin.get("/v1/estimates", params={"limit": 10}).json()["items"]
    r = api.client_with("read", name="finance").get("/v1/estimates.csv")
    assert r.status_code == 200
    assert r.text == _expected_csv(items)
    assert "'=HYPERLINK" in r.text


def test_csv__filters_apply_to_the_export(api):
    _store_two(api, api.admin)
    r = api.admin.get("/v1/estimates.csv", params={"kind": "inference"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["kind"] for row in rows] == ["inference"]
    assert rows[0]["billing_tokens"] == "" and rows[0]["cost_per_month_usd"] != ""
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    r = api.admin.get("/v1/estimates.csv", params={"created_from": later})
    assert r.text.count("\n") == 1  # the header only


def test_csv__the_header_comes_first_then_rows_a_chunk_at_a_time(api):
    engine = api.app.state.engine
    template = _store_two(api, api.admin)[0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    plain_rows = [
        {
            "id": f"est_{i:016x}",
            "kind": "training",
            "requested_by": "admin",
            "created_at": start + timedelta(seconds=i),
            "model": template["model"],
            "as_of": start.date(),
            "price_version": template["price_version"],
            "cost_usd": Decimal(template["cost_usd"]),
            "inputs": {},
            "result": {**template, "id": f"est_{i:016x}"},
        }
        for i in range(2 * ROWS_PER_CHUNK + 5)
    ]
    rows = [{**row, **renderings(row)} for row in plain_rows]
    with engine.begin() as connection:
        connection.execute(EstimateRecord.__table__.insert(), rows)
    with engine.connect() as connection:
        chunks = list(estimates_csv(connection))
    assert chunks[0].count("\n") == 1 and chunks[0].startswith("id,kind,")
    assert [c.count("\n") for c in chunks[1:]] == [ROWS_PER_CHUNK, ROWS_PER_CHUNK, 7]
    assert chunks[-1].splitlines()[-1].startswith(f"est_{0:016x},")  # newest first: oldest last


def test_get__the_body_is_byte_for_byte_what_pydantic_writes_for_the_summary(api):
    # The stored summary is sent as it is: its text must be the documented encoding exactly
    # (field order, 'Z' times without a zero fraction, decimal strings, nulls).
    posted = _store_two(api, api.admin)
    engine = api.app.state.engine
    table = EstimateRecord.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        row = connection.execute(select(table).where(table.c.id == posted[0]["id"])).one()
        changed = {
            **row._asdict(),
            "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "requested_by": 'Zoë "q"',
        }
        connection.execute(
            table.update().where(table.c.id == posted[0]["id"]).values(**renderings(changed))
        )
    for item in posted:
        body = api.admin.get(f"/v1/estimates/{item['id']}").content
        assert body == EstimateSummary.model_validate_json(body).model_dump_json().encode()
    body = api.admin.get("/v1/estimates", params={"limit": 1}).content
    assert body == EstimatePage.model_validate_json(body).model_dump_json().encode()
    assert (
        b'"created_at":"2026-01-02T03:04:05Z"'
        in api.admin.get(f"/v1/estimates/{posted[0]['id']}").content
    )


def _revoke_by_hand(api: Any, key_id: int) -> None:
    # Not through the API: as another replica, or an operator's UPDATE, would.
    with api.app.state.engine.begin() as connection:
        connection.execute(
            text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"),
            {"id": key_id},
        )


def _reader(api: Any) -> tuple[Any, dict[str, Any]]:
    key = api.admin.post("/v1/keys", json={"name": "finance", "scopes": ["read"]}).json()
    return client_for(api.app, key["secret"]), key


def test_get__an_unknown_id_is_404_for_a_live_key_new_or_cached(api):
    reader, key = _reader(api)
    with reader:
        for _ in range(2):  # the key not cached yet, then from the key cache
            r = reader.get("/v1/estimates/est_nope")
            assert r.status_code == 404, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert api.app.state.key_cache.get(key["secret"]) is not None


def test_get__a_cached_key_revoked_by_hand_is_401_for_an_estimate_known_or_not(api):
    posted = _store_two(api, api.admin)
    reader, key = _reader(api)
    with reader:
        assert reader.get(f"/v1/estimates/{posted[0]['id']}").status_code == 200
        _revoke_by_hand(api, key["id"])
        for estimate_id in (posted[0]["id"], "est_nope"):  # a 401, never the estimate or a 404
            r = reader.get(f"/v1/estimates/{estimate_id}")
            assert r.status_code == 401, r.text
        assert api.app.state.key_cache.get(key["secret"]) is None


def test_get__a_cached_key_deleted_by_hand_is_401(api):
    posted = _store_two(api, api.admin)
    reader, key = _reader(api)
    with reader:
        assert reader.get(f"/v1/estimates/{posted[0]['id']}").status_code == 200
        with api.app.state.engine.begin() as connection:
            connection.execute(text("DELETE FROM api_keys WHERE id = :id"), {"id": key["id"]})
        assert reader.get(f"/v1/estimates/{posted[0]['id']}").status_code == 401


def test_get__a_key_without_the_read_scope_is_403_new_or_cached(api):
    posted = _store_two(api, api.admin)
    with api.client_with("estimate", name="ml") as team:
        for _ in range(2):
            assert team.get(f"/v1/estimates/{posted[0]['id']}").status_code == 403


def test_get__one_estimate_for_a_cached_key_is_one_statement(api):
    # The key's liveness is checked by the read's own statement: one round trip, not two.
    posted = _store_two(api, api.admin)
    path = f"/v1/estimates/{posted[0]['id']}"
    assert api.admin.get(path).status_code == 200  # caches the key, records its use
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = api.app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        r = api.admin.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200 and r.json()["id"] == posted[0]["id"]
    assert len(statements) == 1, statements


def test_get__one_estimate_for_a_cached_key_records_the_keys_use(api):
    posted = _store_two(api, api.admin)
    reader, key = _reader(api)
    api.app.state.last_used = LastUsed(granularity=timedelta(0))  # every use is due

    def last_used() -> Any:
        with api.app.state.engine.connect() as connection:
            return connection.execute(
                text("SELECT last_used_at FROM api_keys WHERE id = :id"), {"id": key["id"]}
            ).scalar_one()

    with reader:
        assert reader.get(f"/v1/estimates/{posted[0]['id']}").status_code == 200
        first = last_used()
        assert api.app.state.key_cache.get(key["secret"]) is not None
        assert reader.get(f"/v1/estimates/{posted[0]['id']}").status_code == 200  # from the cache
    assert first is not None and last_used() > first
