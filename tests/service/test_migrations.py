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
