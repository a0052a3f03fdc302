"""The connection gate: a process never waits on itself for a database connection."""

from __future__ import annotations

import asyncio
import json

from fastapi import FastAPI

from service.auth.service import create_key
from service.db import ConnectionGate, create_db_engine, session_scope
from tests.service.asgi import bearer, call, http_scope, json_body
from tests.service.conftest import build_app

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
