"""What observability costs: the per-request middleware and a /metrics scrape.

In-process, no server: the same trivial ASGI endpoint is called N times with and without
ObservabilityMiddleware, in interleaved rounds, and the difference per request is printed. Then a
full app on a fresh SQLite database answers N estimate requests and /metrics is scraped (the pool
and alert-queue gauges read the database), printing the scrape time and size.

    .venv/bin/python bench/bench_observability.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from service.observability.metrics import Metrics
from service.observability.middleware import ObservabilityMiddleware

SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/healthz",
    "root_path": "",
    "headers": [(b"host", b"bench"), (b"x-request-id", b"bench-1")],
}


async def endpoint(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def send(message: Any) -> None:
    return None


async def per_request_us(app: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
    return (time.perf_counter() - started) / n * 1e6


def middleware_overhead(n: int) -> None:
    bare = endpoint
    wrapped = ObservabilityMiddleware(endpoint, metrics=Metrics())
    rounds: dict[str, list[float]] = {"bare": [], "wrapped": []}
    for _ in range(9):
        rounds["bare"].append(asyncio.run(per_request_us(bare, n)))
        rounds["wrapped"].append(asyncio.run(per_request_us(wrapped, n)))
    bare_us = min(rounds["bare"])
    wrapped_us = min(rounds["wrapped"])
    print(
        f"middleware: {bare_us:.2f} us bare, {wrapped_us:.2f} us wrapped, "
        f"{wrapped_us - bare_us:.2f} us per request added (fastest of 9 rounds of {n})"
    )


def scrape_cost(n: int) -> None:
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.auth.service import create_key
    from service.db import session_scope
    from service.settings import get_settings

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        app = create_app(get_settings(database_url=url, metrics="public"), run_background=False)
        with session_scope(app.state.engine) as session:
            _, secret = create_key(session, name="bench", scopes=["admin"])
        body = {"model": "gpt-3.5-turbo", "tokens": 1000, "n_epochs": 1, "as_of": "2024-01-01"}
        with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as client:
            for _ in range(min(n, 500)):
                client.post("/v1/estimates/training", json=body)
            client.get("/no/such/path")
            times = []
            for _ in range(20):
                started = time.perf_counter()
                response = client.get("/metrics")
                times.append(time.perf_counter() - started)
        app.state.engine.dispose()
        print(
            f"scrape: {statistics.median(times) * 1000:.1f} ms median of 20, "
            f"{len(response.content):,} bytes, {response.text.count(chr(10)):,} lines"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    middleware_overhead(args.requests)
    scrape_cost(args.requests)


if __name__ == "__main__":
    main()
