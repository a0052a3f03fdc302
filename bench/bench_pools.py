"""The pools view: server CPU of `GET /v1/usage/pools` against `GET /healthz`, in one run.

Starts `ratecard serve` (uvicorn, one process) on a loopback port with a fresh SQLite database
and, when PostgreSQL answers on 127.0.0.1:5432, again with a fresh PostgreSQL database. Four pools
carry traffic (two or three models each, one fine-tuned, an hour of history in 10-second buckets,
and a fresh batch before every round so the current window is never empty); two have a configured
limit and one a learned one. For scale, the same route is also read for an organisation with no
pools (what authentication, the session and the framework cost alone). aiohttp keep-alive clients
drive the endpoints in interleaved rounds. The figure that matters is the server's own CPU time
per request (it does not drift with whatever else the machine runs); requests/s is beside it.
Target: the pools view costs at most 10x `/healthz`.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/bench_pools.py [--db sqlite|postgres|both] [--seconds 5 --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import psutil
from support import database, free_port, postgres_running

# Generated like `ratecard keys create` makes them: the server refuses weaker admin keys.
KEY = "rc_4f0c2d9a8e7b61f3a5c9d0e2b4f6a8c1d3e5f7091b2c4d6e8fa0b1c2d3e4f5a6"
TARGET = 10.0
# (family, models): each pool is one base model and the ft: models built on it.
POOLS = [
    ("gpt-3.5-turbo", ["gpt-3.5-turbo", "ft:gpt-3.5-turbo-0613:acme::abc123"]),
    ("gpt-4o", ["gpt-4o", "ft:gpt-4o-2024-08-06:acme:support:def456", "gpt-4o-2024-05-13"]),
    ("gpt-4o-mini", ["gpt-4o-mini", "ft:gpt-4o-mini-2024-07-18:acme::ghi789"]),
    ("gpt-4.1", ["gpt-4.1", "ft:gpt-4.1-2025-04-14:acme::jkl012"]),
]
HEALTHZ = "GET /healthz (trivial)"
POOLS_VIEW = "GET /v1/usage/pools"
# For scale: the same route for an organisation with no pools, i.e. what authentication, the
# session and the framework cost before the view does any work of its own.
EMPTY_VIEW = "  same, org with no pools"


async def drive(base: str, path: str, seconds: float, concurrency: int) -> int:
    """Requests completed by `concurrency` keep-alive clients in `seconds`; any error aborts."""
    done = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {KEY}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(path) as response:
                    await response.read()
                    response.raise_for_status()
                done += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return done


def measure(
    server: psutil.Process, base: str, path: str, seconds: float, concurrency: int
) -> tuple[float, float]:
    """(requests/s, server CPU ms per request) of one round."""
    cpu_before = sum(server.cpu_times()[:2])
    start = time.perf_counter()
    requests = asyncio.run(drive(base, path, seconds, concurrency))
    elapsed = time.perf_counter() - start
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    return requests / elapsed, 1000 * cpu / max(requests, 1)


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


def events(now: datetime, *, minutes: int, per_bucket: int) -> list[dict[str, Any]]:
    """Traffic on every model of every pool, `per_bucket` events per 10 s over `minutes`."""
    out = []
    for step in range(minutes * 6):
        moment = now - timedelta(seconds=10 * step + 1)
        for _, models in POOLS:
            for index, model in enumerate(models):
                for _ in range(per_bucket):
                    out.append(
                        {
                            "model": model,
                            "prompt_tokens": 300 + 100 * index,
                            "completion_tokens": 80,
                            "timestamp": moment.isoformat(),
                        }
                    )
    return out


def post_events(client: httpx.Client, batch: list[dict[str, Any]]) -> None:
    for start in range(0, len(batch), 5000):
        r = client.post("/v1/usage", json={"events": batch[start : start + 5000]})
        r.raise_for_status()


def seed(client: httpx.Client) -> None:
    post_events(client, events(datetime.now(UTC), minutes=60, per_bucket=1))
    for family, tpm in (("gpt-3.5-turbo", 2_000_000), ("gpt-4o", 800_000)):
        r = client.put(f"/v1/usage/limits/{family}", json={"tokens_per_minute": tpm})
        r.raise_for_status()
    r = client.post(
        "/v1/usage/ratelimit",
        json={
            "model": "gpt-4.1",
            "headers": {
                "x-ratelimit-limit-tokens": "450000",
                "x-ratelimit-limit-requests": "5000",
                "x-ratelimit-remaining-tokens": "449000",
                "x-ratelimit-remaining-requests": "4999",
                "x-ratelimit-reset-tokens": "120ms",
                "x-ratelimit-reset-requests": "12ms",
            },
        },
    )
    r.raise_for_status()


def run(kind: str, seconds: float, rounds: int, clients: int) -> dict[str, tuple[float, float]]:
    workdir = tempfile.mkdtemp(prefix="ratecard-bench-")
    try:
        with database(kind, workdir) as url:
            port = free_port()
            env = {
                **os.environ,
                "RATECARD_PORT": str(port),
                "RATECARD_ADMIN_API_KEY": KEY,
                "RATECARD_DATABASE_URL": url,
                "RATECARD_RUN_WATCHER": "false",
                "RATECARD_LOG_LEVEL": "WARNING",
            }
            proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve"], cwd=workdir, env=env
            )
            base = f"http://127.0.0.1:{port}"
            paths = {
                HEALTHZ: "/healthz",
                POOLS_VIEW: "/v1/usage/pools",
                EMPTY_VIEW: "/v1/usage/pools?org=nobody",
            }
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
            try:
                wait_until_up(base, proc)
                headers = {"Authorization": f"Bearer {KEY}"}
                with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                    seed(client)
                    listed = client.get("/v1/usage/pools").json()["pools"]
                    assert len(listed) == len(POOLS), [p["family"] for p in listed]
                    server = psutil.Process(proc.pid)
                    for path in paths.values():  # warm-up: caches, pools, lazy imports
                        asyncio.run(drive(base, path, 1, clients))
                    # Interleaved rounds: a shared machine's speed drifts, and both endpoints
                    # should see the same drift.
                    for _ in range(rounds):
                        post_events(client, events(datetime.now(UTC), minutes=1, per_bucket=1))
                        for name, path in paths.items():
                            results[name].append(measure(server, base, path, seconds, clients))
            finally:
                proc.terminate()
                proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        name: (
            statistics.median(rps for rps, _ in rounds_),
            statistics.median(cpu for _, cpu in rounds_),
        )
        for name, rounds_ in results.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16, help="keep-alive clients")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in kinds and not postgres_running():
        print("PostgreSQL is not answering on 127.0.0.1:5432; SQLite only")
        kinds.remove("postgres")
    print(
        f"{len(POOLS)} pools, {args.clients} aiohttp keep-alive clients, {args.rounds} "
        f"interleaved rounds of {args.seconds:g} s, {os.cpu_count()} cores shared by server "
        f"and client; medians"
    )
    header = f"{'database':<11}{'endpoint':<27}{'requests/s':>11}"
    print(f"{header}{'server CPU/req':>16}{'x healthz':>11}")
    missed = False
    for kind in kinds:
        figures = run(kind, args.seconds, args.rounds, args.clients)
        trivial_cpu = figures[HEALTHZ][1]
        for name, (rps, cpu) in figures.items():
            print(f"{kind:<11}{name:<27}{rps:>11.0f}{cpu:>13.2f} ms{cpu / trivial_cpu:>10.1f}x")
        ratio = figures[POOLS_VIEW][1] / trivial_cpu
        verdict = "PASS" if ratio <= TARGET else "MISS"
        missed |= ratio > TARGET
        print(f"{kind}: pools view = {ratio:.1f}x /healthz CPU (target <= {TARGET:g}x) {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
