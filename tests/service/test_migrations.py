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
