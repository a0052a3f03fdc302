"""The service wired to the fake OpenAI (Costs API) served by uvicorn on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.fakes.fake_openai import FakeOpenAIState, ManualClock, create_fake_openai_app
from tests.service.conftest import ADMIN_SECRET, build_app, client_for

ADMIN_KEY = "sk-admin-test-0123456789-SECRET"
# Behaviour that does not depend on the database runs on SQLite only, to keep the suite quick.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def unix(day: date, seconds: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) + seconds


@pytest.fixture(scope="session")
def fake_costs_server() -> Iterator[tuple[FastAPI, str]]:
    app = create_fake_openai_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield app, f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@dataclass
class BillingEnv:
    app: FastAPI
    fake: FakeOpenAIState
    admin: httpx.Client
    reader: httpx.Client


@pytest.fixture
def fake(fake_costs_server: tuple[FastAPI, str]) -> FakeOpenAIState:
    # The fake's "now" is 2025-04-02: the month reconciled in the tests is March 2025.
    state = FakeOpenAIState(clock=ManualClock(start=unix(date(2025, 4, 2))), api_key=ADMIN_KEY)
    fake_costs_server[0].state.fake = state
    return state


def billing_app(database_url: str, base_url: str, tmp_path: Path, **overrides: Any) -> FastAPI:
    options: dict[str, Any] = {
        "openai_base_url": base_url,
        "openai_admin_key": ADMIN_KEY,
        "openai_timeout_seconds": 2.0,
        "openai_max_retries": 2,
        "openai_backoff_seconds": 0.001,
        "run_dispatcher": False,
    }
    options.update(overrides)
    return build_app(database_url, tmp_path, **options)


@pytest.fixture
def env(
    database_url: str,
    fake_costs_server: tuple[FastAPI, str],
    fake: FakeOpenAIState,
    tmp_path: Path,
) -> Iterator[BillingEnv]:
    app = billing_app(database_url, fake_costs_server[1], tmp_path)
    admin = client_for(app, ADMIN_SECRET)
    with admin:
        from service.auth.service import create_key
        from service.db import session_scope

        with session_scope(app.state.engine) as session:
            _, secret = create_key(session, name="finance", scopes=["read"])
        with client_for(app, secret) as reader:
            yield BillingEnv(app, fake, admin, reader)
