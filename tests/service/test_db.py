"""The connection gate: a process never waits on itself for a database connection. Connections
the database dropped: a 503 at worst, never a 500, and the next request is served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import service.db
from service.auth.service import create_key
from service.db import ConnectionGate, create_db_engine, session_scope
from tests.service.asgi import bearer, call, http_scope, json_body
from tests.service.conftest import ADMIN_SECRET, build_app, client_for

INFERENCE = {
    "model": "gpt-4o-mini",
    "as_of": "2024-09-01",
    "workload": {"prompt_tokens": 100, "completion_tokens": 10, "requests_per_day": 1},
}


async def _request(app: FastAPI, secret: str, method: str, path: str) -> tuple[int, bytes]:
    body = json.dumps(INFERENCE).encode() if method == "POST" else b""
    return await call(app, http_scope(method, path, [bearer(secret), *json_body(body)]), [body])


def test_gate__many_more_concurrent_requests_than_connections_all_finish(database_url, tmp_path):
    # Ungated, 128 concurrent reads on 8 connections deadlocked: the requests holding every
    # connection waited for a worker thread, and every worker thread waited for a connection,
    # until the 30 s pool timeout failed them.
    app = build_app(database_url, tmp_path, db_connections=8)
    assert app.state.connection_gate.slots == 2
    with session_scope(app.state.engine) as session:
        _, secret = create_key(session, name="finance", scopes=["read", "estimate"])

    async def burst() -> list[int]:
        status, body = await _request(app, secret, "POST", "/v1/estimates/inference")
        assert status == 201
        paths = [
            f"/v1/estimates/{json.loads(body)['id']}",
            "/v1/estimates?limit=5",
            "/v1/estimates.csv",
        ]
        requests = [_request(app, secret, "GET", paths[i % 3]) for i in range(120)]
        requests += [_request(app, secret, "POST", "/v1/estimates/inference") for _ in range(40)]
        answers = await asyncio.wait_for(asyncio.gather(*requests), timeout=25)
        return [status for status, _ in answers]

    assert asyncio.run(burst()) == [200] * 120 + [201] * 40


def test_gate__admits_half_the_connections_left_beside_the_reserve(sqlite_url):
    assert ConnectionGate(create_db_engine(sqlite_url)).slots == 23  # 50 connections
    assert ConnectionGate(create_db_engine(sqlite_url, connections=8)).slots == 2
    assert ConnectionGate(create_db_engine(sqlite_url, connections=5)).slots == 1


@pytest.fixture
def pg_app(postgres_url, tmp_path) -> Iterator[FastAPI]:
    app = build_app(postgres_url, tmp_path)
    yield app
    app.state.engine.dispose()


def _drop_the_service_connections(postgres_url: str) -> int:
    """What a PostgreSQL restart or a proxy's idle timeout does to the pool: the server ends
    every backend of the database but this one."""
    killer = create_engine(postgres_url, poolclass=NullPool)
    with killer.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    killer.dispose()
    return int(ended)


def test_dropped_connections__a_read_is_tried_again_and_answered(pg_app, postgres_url):
    with client_for(pg_app, ADMIN_SECRET) as admin:
        assert admin.get("/v1/usage/pools").status_code == 200
        assert _drop_the_service_connections(postgres_url) >= 1

        # Used a moment ago, so not pinged: the first statement fails, and the read runs again
        # on a new connection.
        r = admin.get("/v1/usage/pools")
        assert r.status_code == 200, r.text
        assert admin.get("/v1/keys").status_code == 200


def test_dropped_connections__a_request_in_a_session_is_a_503_then_the_service_recovers(
    pg_app, postgres_url
):
    with client_for(pg_app, ADMIN_SECRET) as admin:
        assert admin.get("/v1/keys").status_code == 200
        assert _drop_the_service_connections(postgres_url) >= 1

        r = admin.get("/v1/keys")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["Retry-After"] == "5"
        # SQLAlchemy discarded every connection as old as the one that failed.
        assert [admin.get("/v1/keys").status_code for _ in range(3)] == [200] * 3
        assert admin.get("/v1/usage/pools").status_code == 200


def test_dropped_connections__an_idle_connection_is_pinged_and_replaced(
    pg_app, postgres_url, monkeypatch
):
    with client_for(pg_app, ADMIN_SECRET) as admin:
        assert admin.get("/v1/keys").status_code == 200
        assert _drop_the_service_connections(postgres_url) >= 1
        # As if the pool's connections had sat idle past the interval (a restart, overnight).
        monkeypatch.setattr(service.db, "PING_AFTER_IDLE_SECONDS", 0.0)

        assert admin.get("/v1/keys").status_code == 200


def test_dropped_connections__no_ping_for_a_connection_in_steady_use(pg_app):
    pings: list[str] = []
    with client_for(pg_app, ADMIN_SECRET) as admin:
        assert admin.get("/v1/usage/pools").status_code == 200
        engine = pg_app.state.engine
        dialect = engine.dialect
        real_ping = dialect.do_ping

        def counted(dbapi_connection):  # type: ignore[no-untyped-def]
            pings.append("ping")
            return real_ping(dbapi_connection)

        dialect.do_ping = counted  # type: ignore[method-assign]
        try:
            for _ in range(5):
                assert admin.get("/v1/usage/pools").status_code == 200
        finally:
            del dialect.do_ping
    assert pings == []
