"""REST throughput: the inference-estimate endpoint beside a trivial endpoint on the same server.

Starts `ratecard serve` (uvicorn, one process) on a loopback port with a fresh SQLite database (or
--database-url), then drives each endpoint with concurrent keep-alive clients for a fixed time.
Target: the estimate endpoint reaches at least 70% of the trivial endpoint's requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

KEY = "rc_bench_admin_key_0123456789abcdef"
BODY = {
    "model": "gpt-3.5-turbo",
    "as_of": "2024-06-01",
    "workload": {"prompt_tokens": 1500, "completion_tokens": 200, "requests_per_day": 10000},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def drive(
    base: str, method: str, path: str, seconds: float, concurrency: int, json: object | None
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                r = await client.request(method, path, json=json)
                r.raise_for_status()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
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
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(drive(base, "GET", "/healthz", 1, args.concurrency, None))  # warm-up
        asyncio.run(drive(base, "POST", "/v1/estimates/inference", 1, args.concurrency, BODY))
        # Interleaved rounds: a shared machine's speed drifts, and both endpoints should see
        # the same drift.
        trivial, estimate = [], []
        for _ in range(args.rounds):
            trivial.append(
                asyncio.run(drive(base, "GET", "/healthz", args.seconds, args.concurrency, None))
            )
            estimate.append(
                asyncio.run(
                    drive(
                        base,
                        "POST",
                        "/v1/estimates/inference",
                        args.seconds,
                        args.concurrency,
                        BODY,
                    )
                )
            )
    finally:
        proc.terminate()
        proc.wait()
    database = "PostgreSQL" if args.database_url else "SQLite (default)"
    print(
        f"database {database}, {args.concurrency} clients, {args.rounds} rounds of {args.seconds} s"
    )
    print(f"{'endpoint':<32}{'requests/s per round':>28}{'median':>10}")
    for name, runs in (
        ("GET /healthz (trivial)", trivial),
        ("POST /v1/estimates/inference", estimate),
    ):
        per_round = " ".join(f"{r:6.0f}" for r in runs)
        print(f"{name:<32}{per_round:>28}{statistics.median(runs):>10.0f}")
    ratio = statistics.median(estimate) / statistics.median(trivial)
    print(f"ratio of medians {ratio:.0%} (target >= 70%) {'PASS' if ratio >= 0.7 else 'MISS'}")


if __name__ == "__main__":
    main()
