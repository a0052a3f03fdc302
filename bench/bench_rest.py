"""REST write path: estimates stored per second and their latency, beside a trivial endpoint.

Starts `ratecard serve` (uvicorn, one process) on a loopback port with a fresh SQLite database (or
--database-url), then drives each endpoint with concurrent keep-alive clients for a fixed time,
in interleaved rounds. Goal of the plain write path (each estimate stored in its own transaction,
answered after commit): at 32 clients, p99 latency under 50 ms and at least 500 estimates/s per
process. The trivial endpoint (`GET /healthz`, an `async def` returning a constant) shows what the
framework alone costs on the same machine in the same run.

The load comes from aiohttp, which needs about a tenth of httpx's CPU per request: with httpx the
client, not the server, was the limit for the trivial endpoint (about 500 req/s here), which made
the ratio look far better than the server's real capacity. The server's own CPU time per request
is printed beside it, since it does not drift with whatever else the machine runs.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/bench_rest.py [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import aiohttp
import httpx
import psutil
from support import free_port

KEY = "rc_b2593adef47b1e7fa592f2dcc8c223d9cd97b8253aba992f49c2b158a7e8ecde"
BODY = {
    "model": "gpt-3.5-turbo",
    "as_of": "2024-06-01",
    "workload": {"prompt_tokens": 1500, "completion_tokens": 200, "requests_per_day": 10000},
}
GOAL_CLIENTS = 32
GOAL_P99_MS = 50.0
GOAL_RPS = 500.0
ESTIMATE = "POST /v1/estimates/inference"


@dataclass(frozen=True)
class Round:
    rps: float
    cpu_ms_per_request: float
    latencies_ms: list[float]


async def drive(
    base: str, method: str, path: str, seconds: float, concurrency: int, body: object | None
) -> list[float]:
    """Latencies (ms) of the requests `concurrency` keep-alive clients complete in `seconds`;
    any error aborts."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:

        async def client() -> None:
            while (sent := time.perf_counter()) < deadline:
                async with session.request(method, path, data=data) as response:
                    await response.read()
                    response.raise_for_status()
                latencies.append(1000 * (time.perf_counter() - sent))

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def measure(
    server: psutil.Process,
    base: str,
    method: str,
    path: str,
    seconds: float,
    concurrency: int,
    body: object | None,
) -> Round:
    cpu_before = sum(server.cpu_times()[:2])
    start = time.perf_counter()
    latencies = asyncio.run(drive(base, method, path, seconds, concurrency, body))
    elapsed = time.perf_counter() - start
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    return Round(len(latencies) / elapsed, 1000 * cpu / max(len(latencies), 1), latencies)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_until_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    sys.exit("the server did not come up in 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[GOAL_CLIENTS],
        help=f"keep-alive clients, comma-separated levels (default {GOAL_CLIENTS})",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="ratecard-bench-")
    port = free_port()
    env = {
        **os.environ,
        "RATECARD_PORT": str(port),
        "RATECARD_ADMIN_API_KEY": KEY,
        "RATECARD_RUN_WATCHER": "false",
        "RATECARD_LOG_LEVEL": "WARNING",
    }
    if args.database_url:
        env["RATECARD_DATABASE_URL"] = args.database_url
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=workdir, env=env)
    base = f"http://127.0.0.1:{port}"
    endpoints = {
        "GET /healthz (trivial)": ("GET", "/healthz", None),
        ESTIMATE: ("POST", "/v1/estimates/inference", BODY),
    }
    try:
        wait_until_up(base, proc)
        runs: dict[int, dict[str, list[Round]]] = {
            clients: {name: [] for name in endpoints} for clients in args.concurrency
        }
        server = psutil.Process(proc.pid)
        for method, path, body in endpoints.values():  # warm-up: caches, pools, lazy imports
            asyncio.run(drive(base, method, path, 1, max(args.concurrency), body))
        # Interleaved rounds: a shared machine's speed drifts, and both endpoints should see
        # the same drift.
        for _ in range(args.rounds):
            for clients, by_endpoint in runs.items():
                for name, (method, path, body) in endpoints.items():
                    by_endpoint[name].append(
                        measure(server, base, method, path, args.seconds, clients, body)
                    )
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    database = "PostgreSQL" if args.database_url else "SQLite (default)"
    print(
        f"database {database}, aiohttp keep-alive clients, {args.rounds} interleaved rounds of "
        f"{args.seconds:g} s, {os.cpu_count()} cores shared by server and client"
    )
    print(
        f"{'clients':>7}  {'endpoint':<30}{'requests/s per round':>24}{'median':>8}"
        f"{'p50':>9}{'p99':>9}{'server CPU/request':>21}"
    )
    for clients, by_endpoint in runs.items():
        for name, rounds in by_endpoint.items():
            rps = statistics.median(r.rps for r in rounds)
            cpu = statistics.median(r.cpu_ms_per_request for r in rounds)
            latencies = [ms for r in rounds for ms in r.latencies_ms]
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            per_round = " ".join(f"{r.rps:6.0f}" for r in rounds)
            print(
                f"{clients:>7}  {name:<30}{per_round:>24}{rps:>8.0f}{p50:>6.1f} ms{p99:>6.1f} ms"
                f"{cpu:>18.2f} ms"
            )
            if name == ESTIMATE and clients == GOAL_CLIENTS:
                met = p99 < GOAL_P99_MS and rps >= GOAL_RPS
                print(
                    f"{'':>9}goal at {GOAL_CLIENTS} clients: p99 < {GOAL_P99_MS:g} ms and >= "
                    f"{GOAL_RPS:g} estimates/s: {'PASS' if met else 'MISS'}"
                )


if __name__ == "__main__":
    main()
