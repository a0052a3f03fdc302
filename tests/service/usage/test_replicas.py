"""Two `ratecard serve` processes on one PostgreSQL database see one pool, exactly."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.netutil import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ADMIN = "rc_c1f9afc7e5c48923dc8fff8e91d20159c83380b00be0bb3414ee2663a7af46ca"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
MODELS = {
    "gpt-3.5-turbo-0125": "gpt-3.5-turbo",
    "ft:gpt-3.5-turbo-0613:acme::aaa111": "gpt-3.5-turbo",
    "ft:gpt-3.5-turbo-1106:acme:support:bbb222": "gpt-3.5-turbo",
    "gpt-4o-mini": "gpt-4o-mini",
}


LOGS: dict[str, Path] = {}  # base URL -> the replica's log, quoted when a request fails


def logs() -> str:
    return "\n".join(f"--- {base}\n{path.read_text()[-4000:]}" for base, path in LOGS.items())


def _start(database_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path] | None:
    """One `ratecard serve`; None if it lost its port to another process before binding it."""
    port = free_port()
    env = {
        **os.environ,
        "RATECARD_DATABASE_URL": database_url,
        "RATECARD_ADMIN_API_KEY": ADMIN,
        "RATECARD_RUN_WATCHER": "false",
        "RATECARD_PORT": str(port),
        "RATECARD_LOG_LEVEL": "WARNING",
    }
    log_path = workdir / f"replica-{port}.log"
    with log_path.open("w") as log:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if "address already in use" in log_path.read_text().lower():
                return None
            raise AssertionError(f"replica exited:\n{log_path.read_text()}")
        try:
            # Our admin key proves the port is served by this process, not a stranger's server.
            if httpx.get(f"{base}/v1/usage/limits", headers=AUTH, timeout=1).status_code == 200:
                return proc, base, log_path
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.terminate()
    proc.wait(timeout=20)
    raise AssertionError(f"replica did not come up:\n{log_path.read_text()}")


@contextmanager
def replica(database_url: str, workdir: Path) -> Iterator[str]:
    for _ in range(5):
        started = _start(database_url, workdir)
        if started is not None:
            break
    else:
        raise AssertionError("no free loopback port after 5 attempts")
    proc, base, log_path = started
    LOGS[base] = log_path
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        LOGS.pop(base, None)


def test_replicas__interleaved_batches_to_two_processes_give_exact_pool_totals(
    postgres_url, tmp_path
):
    rng = random.Random(4)
    now = datetime.now(UTC)
    events = []
    for i in range(16_000):
        model = rng.choice(list(MODELS))
        events.append(
            {
                "model": model,
                "prompt_tokens": rng.randint(0, 4000),
                "completion_tokens": rng.randint(0, 800),
                "max_tokens": rng.choice([None, 256, 1024]),
                "request_id": f"req-{i}",
                "timestamp": (now - timedelta(seconds=rng.uniform(0, 240))).isoformat(),
            }
        )
    batches = [events[i : i + 500] for i in range(0, len(events), 500)]
    # 2,000 events are reported twice, once to each replica at the same moment (a client retry).
    retried = events[:2000]
    expected: dict[str, list[int]] = {"gpt-3.5-turbo": [0, 0], "gpt-4o-mini": [0, 0]}
    for e in events:
        counted = expected[MODELS[e["model"]]]
        counted[0] += e["prompt_tokens"] + (
            e["max_tokens"] if e["max_tokens"] is not None else e["completion_tokens"]
        )
        counted[1] += 1

    with ExitStack() as stack:
        # Started one after the other: the first start migrates the fresh database.
        a = stack.enter_context(replica(postgres_url, tmp_path))
        b = stack.enter_context(replica(postgres_url, tmp_path))
        clients = [
            stack.enter_context(httpx.Client(base_url=base, headers=AUTH, timeout=60))
            for base in (a, b)
        ]

        jobs: list[tuple[httpx.Client, list[dict[str, Any]]]] = []
        for n, batch in enumerate(batches):
            jobs.append((clients[n % 2], batch))
        for n in range(0, len(retried), 500):
            chunk = retried[n : n + 500]
            jobs += [(clients[0], chunk), (clients[1], chunk)]
        rng.shuffle(jobs)

        def send(job: tuple[httpx.Client, list[dict[str, Any]]]) -> dict[str, Any]:
            client, batch = job
            r = client.post("/v1/usage", json={"events": batch})
            assert r.status_code == 200, f"{r.status_code} {r.text}\n{logs()}"
            return dict(r.json())

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(send, jobs))

        assert sum(r["accepted"] for r in results) == len(events)
        assert sum(r["duplicates"] for r in results) == 2 * len(retried)

        window = {
            "from": (now - timedelta(minutes=10)).isoformat(),
            "to": (now + timedelta(minutes=6)).isoformat(),
        }
        for client in clients:
            for family, (tokens, requests) in expected.items():
                r = client.get(f"/v1/usage/pools/{family}/history", params=window)
                assert r.status_code == 200, f"{r.status_code} {r.text}\n{logs()}"
                total = r.json()["total"]
                assert (total["tokens"], total["requests"]) == (tokens, requests), (
                    client.base_url,
                    family,
                )
            assert client.get("/v1/usage/pools").status_code == 200


def test_replicas__a_crossing_seen_by_both_replicas_is_announced_once(postgres_url, tmp_path):
    with ExitStack() as stack:
        a = stack.enter_context(replica(postgres_url, tmp_path))
        b = stack.enter_context(replica(postgres_url, tmp_path))
        clients = [
            stack.enter_context(httpx.Client(base_url=base, headers=AUTH, timeout=60))
            for base in (a, b)
        ]

        # gpt-4 at tier 1 allows 10,000 TPM: 40 concurrent reports of 250 tokens fill it.
        def send(n: int) -> str:
            event = {
                "model": "gpt-4",
                "prompt_tokens": 250,
                "completion_tokens": 0,
                "timestamp": datetime.now(UTC).isoformat(),
            }
            r = clients[n % 2].post("/v1/usage", json=event)
            return "ok" if r.status_code == 200 else f"{r.status_code} {r.text}"

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = set(pool.map(send, range(40)))
        assert outcomes == {"ok"}, f"{outcomes}\n{logs()}"

    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        keys = (
            conn.execute(text("SELECT dedupe_key FROM events WHERE kind = 'tpm.threshold'"))
            .scalars()
            .all()
        )
    engine.dispose()
    assert keys == ["tpm.threshold:default:gpt-4:1"]
