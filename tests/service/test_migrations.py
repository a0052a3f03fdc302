import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from service.db import alembic_config, create_db_engine, migrate
from service.types import Money, UTCDateTime
from tests.service.conftest import ADMIN_SECRET, build_app, client_for

BATCH = 1000  # rows the 0020 backfill renders at a time


def test_migrations__upgrade_in_place_keeps_data(database_url):
    engine = create_db_engine(database_url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) "
                "VALUES ('old', 'rc_x', 'h', 'read', CURRENT_TIMESTAMP)"
            )
        )
    migrate(engine)  # a second start on an existing database is a no-op upgrade
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM api_keys")).scalar_one() == "old"
    assert {
        "api_keys",
        "estimates",
        "price_versions",
        "price_overrides",
        "events",
        "alembic_version",
    } <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_sqlite__runs_in_wal_mode(sqlite_url):
    engine = create_db_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    engine.dispose()


def test_migrations__usage_import_cache_writes_keep_older_rows_at_zero(database_url):
    """0023 adds the cache-write tokens of each imported bucket; rows imported before it read 0
    (priced as input until their window is imported again) and the revision goes down alone."""
    from alembic import command

    from service.db import alembic_config

    engine = create_db_engine(database_url)
    migrate(engine)
    assert "input_cache_write_tokens" in {
        c["name"] for c in inspect(engine).get_columns("usage_imported")
    }
    tables = set(inspect(engine).get_table_names())
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0013_usage_import")
    assert set(inspect(engine).get_table_names()) == tables  # the other branches stay up
    assert "input_cache_write_tokens" not in {
        c["name"] for c in inspect(engine).get_columns("usage_imported")
    }
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO usage_imported (org, model, start, width, project_id, batch, "
                "service_tier, family, model_key, input_tokens, input_cached_tokens, "
                "output_tokens, requests, imported_at) VALUES ('default', 'gpt-5.6-sol', "
                "1763000000, 3600, '', false, 'default', 'gpt-5.6-sol', 'gpt-5.6-sol', 1000, "
                "300, 50, 2, CURRENT_TIMESTAMP)"
            )
        )

    migrate(engine)

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT input_tokens, input_cache_write_tokens FROM usage_imported")
        ).one()
    assert tuple(row) == (1000, 0)
    engine.dispose()


def test_migrations__ui_sessions_branch_goes_down_and_up_alone(database_url):
    from alembic import command

    from service.db import alembic_config

    engine = create_db_engine(database_url)
    migrate(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("ui_sessions")}
    assert columns == {"token_digest", "key_id", "created_at", "last_seen_at", "expires_at"}
    before = set(inspect(engine).get_table_names())
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "ui@-1")

    assert set(inspect(engine).get_table_names()) == before - {"ui_sessions"}
    migrate(engine)
    assert "ui_sessions" in inspect(engine).get_table_names()
    engine.dispose()


# Estimates as the write path stored them before 0020 (no renderings), with the cells a reader
# could trip on: formula starts, a comma and quotes, non-ASCII, a float, a zero fraction.
_OLD_ROWS = [
    {
        "id": "est_00000000000000a1",
        "kind": "training",
        "requested_by": '-team, "ops"',
        "created_at": datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=UTC),
        "model": "=gpt-3.5-turbo",
        "as_of": date(2025, 3, 1),
        "price_version": "@2025-02-01",
        "cost_usd": Decimal("2.40"),
        "inputs": {"model": "=gpt-3.5-turbo", "tokens": 100000, "n_epochs": "auto", "note": "Zoë"},
        "result": {
            "id": "est_00000000000000a1",
            "billing_tokens": 100000,
            "n_epochs": 3,
            "charged_tokens": 300000,
            "cost_usd": "2.40",
            "warnings": ['a "quoted" warning'],
            "dataset": None,
        },
    },
    {
        "id": "est_00000000000000b2",
        "kind": "inference",
        "requested_by": "finance",
        "created_at": datetime(2025, 3, 5, 0, 0, 0, tzinfo=UTC),
        "model": "gpt-4o",
        "as_of": date(2025, 3, 5),
        "price_version": "2025-02-01",
        "cost_usd": Decimal("1234.5"),
        "inputs": {"model": "gpt-4o", "fine_tune_prompt_cut": 0.25, "scenarios": []},
        "result": {
            "id": "est_00000000000000b2",
            "cost_per_request_usd": "0.004115",
            "cost_per_month_usd": "1234.50",
            "training": None,
            "scenarios": [{"name": "gpt-4o", "fine_tuned": False}],
        },
    },
]
# What GET /v1/estimates/{id} and the CSV export sent for those rows before 0020 (recorded from
# that code, the same on SQLite and PostgreSQL).
_OLD_BODIES = [
    '{"id":"est_00000000000000a1","kind":"training","requested_by":"-team, \\"ops\\"",'
    '"created_at":"2025-03-04T05:06:07.000089Z","model":"=gpt-3.5-turbo","as_of":"2025-03-01",'
    '"price_version":"@2025-02-01","cost_usd":"2.40","inputs":{"model":"=gpt-3.5-turbo",'
    '"tokens":100000,"n_epochs":"auto","note":"Zoë"},"result":{"id":"est_00000000000000a1",'
    '"billing_tokens":100000,"n_epochs":3,"charged_tokens":300000,"cost_usd":"2.40",'
    '"warnings":["a \\"quoted\\" warning"],"dataset":null}}',
    '{"id":"est_00000000000000b2","kind":"inference","requested_by":"finance",'
    '"created_at":"2025-03-05T00:00:00Z","model":"gpt-4o","as_of":"2025-03-05",'
    '"price_version":"2025-02-01","cost_usd":"1234.50","inputs":{"model":"gpt-4o",'
    '"fine_tune_prompt_cut":0.25,"scenarios":[]},"result":{"id":"est_00000000000000b2",'
    '"cost_per_request_usd":"0.004115","cost_per_month_usd":"1234.50","training":null,'
    '"scenarios":[{"name":"gpt-4o","fine_tuned":false}]}}',
]
_OLD_CSV = (
    "id,kind,created_at,requested_by,model,as_of,price_version,cost_usd,billing_tokens,"
    "n_epochs,charged_tokens,cost_per_request_usd,cost_per_month_usd\r\n"
    "est_00000000000000b2,inference,2025-03-05T00:00:00+00:00,finance,gpt-4o,2025-03-05,"
    "2025-02-01,1234.50,,,,0.004115,1234.50\r\n"
    'est_00000000000000a1,training,2025-03-04T05:06:07.000089+00:00,"\'-team, ""ops""",'
    "'=gpt-3.5-turbo,2025-03-01,'@2025-02-01,2.40,100000,3,300000,,\r\n"
)
_OLD_ESTIMATES = sa.table(
    "estimates",
    *(sa.column(name) for name in ("id", "kind", "requested_by", "model", "price_version")),
    sa.column("created_at", UTCDateTime()),
    sa.column("as_of", sa.Date),
    sa.column("cost_usd", Money()),
    sa.column("inputs", sa.JSON),
    sa.column("result", sa.JSON),
)


def _schema_before_renderings(url: str) -> Engine:
    """A database at 0007 (estimates without their renderings), holding estimates."""
    command.upgrade(alembic_config(url), "0007_drop_keys_revision")
    engine = create_db_engine(url)
    copies = [  # more than one batch of the backfill
        {
            **_OLD_ROWS[0],
            "id": f"est_copy_{i:06d}",
            "created_at": datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=i),
            "result": {**_OLD_ROWS[0]["result"], "id": f"est_copy_{i:06d}"},
        }
        for i in range(BATCH + 5)
    ]
    with engine.begin() as connection:
        connection.execute(_OLD_ESTIMATES.insert(), _OLD_ROWS + copies)
    return engine


def test_migrations__estimates_stored_before_0020_read_back_byte_for_byte_as_before(
    database_url, tmp_path
):
    _schema_before_renderings(database_url).dispose()
    app = build_app(database_url, tmp_path)  # starts as a replica does: migrates to the heads
    with client_for(app, ADMIN_SECRET) as admin:
        for row, body in zip(_OLD_ROWS, _OLD_BODIES, strict=True):
            assert admin.get(f"/v1/estimates/{row['id']}").text == body
        created_to = {"created_to": "2025-03-05"}  # the two rows, not the copies made later
        assert admin.get("/v1/estimates.csv", params=created_to).text == _OLD_CSV
        page = admin.get("/v1/estimates", params={**created_to, "limit": 2}).text
        items = _OLD_BODIES[1] + "," + _OLD_BODIES[0]  # newest first
        assert page == '{"items":[' + items + '],"next_cursor":null}'
    with app.state.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, summary, csv_line FROM estimates")).all()
    assert len(rows) == len(_OLD_ROWS) + BATCH + 5
    for estimate_id, summary, line in rows:  # every row rendered, each as itself
        assert json.loads(summary)["id"] == estimate_id
        assert line.startswith(estimate_id + ",") and line.endswith("\r\n")
    app.state.engine.dispose()
