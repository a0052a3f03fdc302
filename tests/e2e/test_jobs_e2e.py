"""Jobs end to end with real processes: the demo a new user runs, and watcher replicas.

Everything speaks HTTP over loopback: `ratecard serve --demo` with its built-in fake OpenAI API,
and `ratecard watcher` processes against the fake served by uvicorn in this test process.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
import pytest
import uvicorn

from service.db import create_db_engine, migrate, session_scope
from service.jobs.models import Job
from tests.fakes.fake_openai import FakeOpenAIState, create_fake_openai_app
from tests.netutil import free_port

pytestmark = pytest.mark.slow
LIST = "GET /v1/fine_tuning/jobs"
KEY = "sk-e2e-openai-key"


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def line_reader(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def read_until(lines: queue.Queue[str], pattern: str, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"{pattern!r} never printed; got:\n{''.join(seen)}")


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RATECARD_")}
    return {**env, **extra}


def test_demo__a_new_user_launches_the_sample_and_watches_it_finish(tmp_path: Path) -> None:
    port = free_port()
    with (tmp_path / "stderr.log").open("w") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env=service_env(),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert proc.stdout is not None
            lines = line_reader(proc.stdout)
            database = Path(read_until(lines, r"Database \(a temporary file\): (\S+)").group(1))
            file_id = read_until(lines, r"uploaded to the fake as (file-\w+)").group(1)
            key = read_until(lines, r"export RATECARD_KEY=(rc_\S+)").group(1)
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _up(base), "the demo service")
            client = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            body = {
                "training_file": file_id,
                "model": "gpt-4o-mini",
                "team": "demo",
                "launched_by": "you",
            }

            preview = client.post("/v1/jobs/preview", json=body).json()
            launched = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "demo-1"})

            assert launched.status_code == 201, launched.text
            job_id = launched.json()["id"]
            wait_for(
                lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded",
                "the demo job",
                timeout=60,
            )
            done = client.get(f"/v1/jobs/{job_id}").json()
            assert done["estimated_cost_usd"] == preview["estimate"]["cost_usd"]
            assert (
                done["actual_cost_usd"] == done["estimated_cost_usd"]
                and done["cost_difference_usd"] == "0.00"
            )
            assert done["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) in (0, 128 + signal.SIGTERM)
    assert not database.parent.exists(), "the demo's temporary database outlived it"
    log = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in log
    assert re.search(r"job watcher \S+ stopped", log), (
        log
    )  # the lifespan stopped it and freed the lease


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def fake_openai_over_http(state: FakeOpenAIState) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_fake_openai_app(state), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the fake OpenAI API", timeout=10)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def start_watcher(
    name: str, database_url: str, base_url: str, log_dir: Path
) -> subprocess.Popen[bytes]:
    # The organisation header tells the fake which process sent each request.
    env = service_env(
        RATECARD_DATABASE_URL=database_url,
        RATECARD_OPENAI_BASE_URL=base_url,
        RATECARD_OPENAI_API_KEY=KEY,
        RATECARD_OPENAI_ORGANIZATION=name,
        RATECARD_WATCH_INTERVAL_SECONDS="0.2",
        RATECARD_WATCHER_LEASE_SECONDS="2",
    )
    with (log_dir / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "watcher"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def pollers(state: FakeOpenAIState) -> list[str]:
    """Which process sent each list request, in order."""
    return [
        r.headers.get("openai-organization", "?")
        for r in list(state.request_log)
        if r.endpoint == LIST
    ]


@pytest.mark.postgres
def test_watcher_processes__two_on_postgres_never_both_poll(
    postgres_url: str, tmp_path: Path
) -> None:
    state = FakeOpenAIState(step_seconds=3600, api_key=KEY)
    file_id = state.add_file(
        "t.jsonl", b'{"messages": [{"role": "assistant", "content": "x"}]}\n' * 10
    )
    openai_ids = [
        state.create_job({"model": "gpt-4o-mini", "training_file": file_id})["id"] for _ in range(3)
    ]
    engine = create_db_engine(postgres_url)
    migrate(engine)
    with session_scope(engine) as session:
        for n, openai_id in enumerate(openai_ids):
            created = datetime.fromtimestamp(int(state.job(openai_id).created), UTC)
            session.add(
                Job(
                    id=f"job_e2e{n}",
                    openai_job_id=openai_id,
                    source="watch",
                    status="validating_files",
                    launcher="e2e",
                    requested_model="gpt-4o-mini",
                    model="gpt-4o-mini-2024-07-18",
                    hyperparameters={},
                    created_at=created,
                    openai_created_at=created,
                )
            )
    engine.dispose()

    with fake_openai_over_http(state) as base_url:
        a = start_watcher("replica-a", postgres_url, base_url, tmp_path)
        b: subprocess.Popen[bytes] | None = None
        try:
            wait_for(lambda: "replica-a" in pollers(state), "replica a to poll")
            b = start_watcher("replica-b", postgres_url, base_url, tmp_path)
            b_log = tmp_path / "replica-b.log"
            wait_for(lambda: "started" in b_log.read_text(), "replica b to start ticking")
            polled_by_a = len(pollers(state))
            wait_for(
                lambda: len(pollers(state)) >= polled_by_a + 10, "more ticks with both running"
            )
            assert set(pollers(state)) == {"replica-a"}, "replica b polled while a held the lease"

            a.send_signal(signal.SIGKILL)  # a crash: no graceful hand-over
            a.wait(timeout=10)
            wait_for(
                lambda: "replica-b" in pollers(state),
                "replica b to take over after the lease lapsed",
            )
        finally:
            for proc in (a, b):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=20)
        order = pollers(state)
        switch = order.index("replica-b")
        assert set(order[:switch]) == {"replica-a"} and set(order[switch:]) == {"replica-b"}
        assert b is not None and b.returncode == 0, (tmp_path / "replica-b.log").read_text()


def test_watcher_process__without_an_openai_key_says_what_to_set(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "watcher"],
        capture_output=True,
        text=True,
        env=service_env(RATECARD_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}"),
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "RATECARD_OPENAI_API_KEY" in result.stderr and "Traceback" not in result.stderr
