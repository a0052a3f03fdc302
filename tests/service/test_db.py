"""The connection gate: a process never waits on itself for a database connection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI

from service.app import create_app
from service.auth.service import create_key
from service.db import ConnectionGate, create_db_engine, session_scope
from service.settings import get_settings

INFERENCE = {
    "model": "gpt-4o-mini",
    "as_of": "2024-09-01",
    "workload": {"prompt_tokens": 100, "completion_tokens": 10, "requests_per_day": 1},
}


async def _request(app: FastAPI, secret: str, method: str, path: str) -> tuple[int, bytes]:
    body = json.dumps(INFERENCE).encode() if method == "POST" else b""
    sent: list[dict[str, Any]] = []
    unread = [{"type": "http.request", "body": body, "more_body": False}]
    answered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if unread:
            return unread.pop()
        await answered.wait()  # as a server does: nothing more until the client goes away
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [
            (b"host", b"test"),
            (b"authorization", f"Bearer {secret}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_gate__many_more_concurrent_requests_than_connections_all_finish(database_url, tmp_path):
    # Ungated, 128 concurrent reads on 8 connections deadlocked: the requests holding every
    # connection waited for a worker thread, and every worker thread waited for a connection,
    # until the 30 s pool timeout failed them.
    settings = get_settings(
        database_url=database_url,
        upload_dir=tmp_path / "uploads",
        run_watcher=False,
        db_connections=8,
    )
    app = create_app(settings, run_background=False)
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
