from sqlalchemy import inspect, text

from service.db import create_db_engine, migrate


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
