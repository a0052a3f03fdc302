"""The service wired to the fake OpenAI API served by uvicorn on a loopback port.

One fake server per session; every test gets a fresh ``FakeOpenAIState`` on a ``ManualClock``
that starts at the real time (so the price in force at launch and at the job's creation agree)
and moves only when a test advances it. The fake counts tokens with the project's tokenizer,
so a job's trained_tokens match the launch estimate exactly unless a test says otherwise.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.auth.service import create_key, has_any_key
from service.clock import today_utc
from service.db import session_scope
from service.jobs.watcher import JobWatcher
from service.settings import Settings, get_settings
from tests.fakes.fake_openai import FakeOpenAIState, ManualClock, create_fake_openai_app
from tests.service.conftest import ADMIN_SECRET, client_for

REPO = Path(__file__).resolve().parents[3]
SAMPLE = (REPO / "pricing" / "data" / "sample_chat.jsonl").read_bytes()
TEN_EXAMPLES = SAMPLE.rstrip(b"\n") + b"\n" + SAMPLE  # the bundled file has 5; OpenAI needs 10
STEP_SECONDS = 60  # each of validating_files, queued, running
OPENAI_KEY = "sk-test-jobs-0123456789-SECRET"
# The service's "today" in these tests: a day OpenAI still accepts gpt-4o-mini and gpt-4.1 jobs
# (fine-tuning ends on 2027-01-06), so the suite does not expire with the real calendar. Tests of
# the lifecycle pin other days themselves.
LAUNCH_DAY = date(2026, 12, 1)
# Behaviour that does not depend on the database runs on SQLite only, to keep the suite quick.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class FakeOpenAIServer:
    app: FastAPI
    base_url: str


def serve_in_thread(app: Any) -> tuple[uvicorn.Server, threading.Thread, socket.socket, int]:
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
            raise RuntimeError("loopback server did not start")
        time.sleep(0.01)
    return server, thread, sock, port


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    app = create_fake_openai_app()
    server, thread, sock, port = serve_in_thread(app)
    try:
        yield FakeOpenAIServer(app=app, base_url=f"http://127.0.0.1:{port}/v1")
    finally:
        app.state.fake.release_delays()
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def fake(fake_openai_server: FakeOpenAIServer, clock: ManualClock) -> Iterator[FakeOpenAIState]:
    state = FakeOpenAIState(clock=clock, step_seconds=STEP_SECONDS, api_key=OPENAI_KEY)
    fake_openai_server.app.state.fake = state
    try:
        yield state
    finally:
        state.release_delays()


def jobs_settings(database_url: str, base_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "database_url": database_url,
        "upload_dir": tmp_path / "uploads",
        "openai_base_url": base_url,
        "openai_api_key": OPENAI_KEY,
        "openai_timeout_seconds": 1.0,
        "openai_max_retries": 2,
        "openai_backoff_seconds": 0.001,
        "run_watcher": False,
        "run_dispatcher": False,
    }
    options.update(overrides)
    return get_settings(**options)


@dataclass
class JobsEnv:
    app: FastAPI
    settings: Settings
    fake: FakeOpenAIState
    clock: ManualClock
    admin: httpx.Client
    launcher: httpx.Client
    reader: httpx.Client
    watchers: list[JobWatcher] = field(default_factory=list)

    def upload(self, content: bytes = TEN_EXAMPLES, name: str = "train.jsonl") -> str:
        return self.fake.add_file(name, content)

    def body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "training_file": overrides.pop("training_file", None) or self.upload(),
            "model": "gpt-4o-mini",
            "team": "ml-platform",
            "launched_by": "slack:U123",
        }
        body.update(overrides)
        return body

    def launch(
        self, client: httpx.Client | None = None, *, key: str | None = None, **overrides: Any
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return (client or self.launcher).post(
            "/v1/jobs", json=self.body(**overrides), headers=headers
        )

    def watcher(self, **kwargs: Any) -> JobWatcher:
        """The service's watcher (the same one every call), or a new one set up by ``kwargs``."""
        if not kwargs and self.watchers:
            return self.watchers[0]
        watcher = JobWatcher(engine=self.app.state.engine, settings=self.settings, **kwargs)
        self.watchers.append(watcher)
        return watcher

    def advance(self, steps: float = 1) -> None:
        self.clock.advance(STEP_SECONDS * steps)

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.reader.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def openai_requests(self, endpoint: str) -> int:
        return self.fake.request_counts[endpoint]


def make_env(
    app: FastAPI, settings: Settings, fake: FakeOpenAIState, clock: ManualClock
) -> JobsEnv:
    """Clients for an app; a second app on the same database (a restart) reuses the admin key."""
    suffix = uuid.uuid4().hex[:8]
    with session_scope(app.state.engine) as session:
        if not has_any_key(session):
            create_key(session, name="admin", scopes=["admin"], secret=ADMIN_SECRET)
        _, launch_secret = create_key(session, name=f"bot-{suffix}", scopes=["launch", "read"])
        _, read_secret = create_key(session, name=f"finance-{suffix}", scopes=["read"])
    return JobsEnv(
        app,
        settings,
        fake,
        clock,
        client_for(app, ADMIN_SECRET),
        client_for(app, launch_secret),
        client_for(app, read_secret),
    )


@pytest.fixture
def env(
    database_url: str,
    fake_openai_server: FakeOpenAIServer,
    fake: FakeOpenAIState,
    clock: ManualClock,
    tmp_path: Path,
) -> Iterator[JobsEnv]:
    settings = jobs_settings(database_url, fake_openai_server.base_url, tmp_path)
    app = create_app(settings, run_background=False)
    app.dependency_overrides[today_utc] = lambda: LAUNCH_DAY
    jobs_env = make_env(app, settings, fake, clock)
    with jobs_env.admin, jobs_env.launcher, jobs_env.reader:
        yield jobs_env
    for watcher in jobs_env.watchers:
        watcher.stop()
    app.state.engine.dispose()
