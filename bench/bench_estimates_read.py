"""Estimate read paths: one estimate, a page of 100, and the CSV export, beside `/healthz`.

Starts `ratecard serve` (uvicorn, one process) on a loopback port with a fresh SQLite database or
a fresh PostgreSQL database (`--db postgres`), stores `--rows` estimates straight into the table
(copies of two real estimates the server made, each with its own id and time, rendered as the
write path renders them), then:

- drives `/healthz`, `GET /v1/estimates/{id}` and `GET /v1/estimates?limit=100` with keep-alive
  clients in interleaved rounds and prints the server's CPU per request and its ratio to
  `/healthz`'s (goals: a page <= 10x, one estimate <= 5x);
- downloads `GET /v1/estimates.csv` once and prints the server's CPU per row (goal <= 5 us),
  the time to the first byte and the server's peak RSS during the export (flat: it must not
  grow with the number of rows).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/bench_estimates_read.py [--db postgres] [--rows 1000000]
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
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rest import KEY, drive, free_port, wait_until_up
from support import database

from service.db import create_db_engine
from service.estimates.models import EstimateRecord
from service.estimates.renderings import renderings

TRAINING = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}
INFERENCE = {
    "model": "gpt-3.5-turbo",
    "as_of": "2024-06-01",
    "workload": {"prompt_tokens": 1500, "completion_tokens": 200, "requests_per_day": 10000},
    "scenarios": [{"model": "gpt-4"}],
}
GOALS = {"one": 5.0, "page": 10.0}
GOAL_US_PER_ROW = 5.0


def seed(base: str, url: str, rows: int) -> str:
    """Store `rows` estimates; returns the id of one of them."""
    auth = {"Authorization": f"Bearer {KEY}"}
    for path, body in (("training", TRAINING), ("inference", INFERENCE)):
        r = httpx.post(f"{base}/v1/estimates/{path}", json=body, headers=auth)
        r.raise_for_status()
    table = EstimateRecord.__table__  # type: ignore[attr-defined]
    engine = create_db_engine(url)
    with engine.connect() as conn:
        templates = [dict(m) for m in conn.execute(select(table)).mappings()]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(0, rows, 10_000):
        batch: list[dict[str, Any]] = []
        for i in range(first, min(first + 10_000, rows)):
            row = dict(templates[i % len(templates)])
            row["id"] = f"est_{i:016x}"
            row["created_at"] = start + timedelta(seconds=i)
            row["result"] = {**row["result"], "id": row["id"]}
            row.update(renderings(row))  # as the write path stores them
            batch.append(row)
        # A transaction per batch: one for a million rows held SQLite's write lock for minutes,
        # and the server's own background writers failed on it.
        with engine.begin() as conn:
            conn.execute(table.insert(), batch)
    engine.dispose()
    return f"est_{rows // 2:016x}"


def cpu_per_request(server: psutil.Process, base: str, path: str, seconds: float) -> float:
    before = sum(server.cpu_times()[:2])
    latencies = asyncio.run(drive(base, "GET", path, seconds, 16, None))
    return 1000 * (sum(server.cpu_times()[:2]) - before) / max(len(latencies), 1)


def export(server: psutil.Process, base: str) -> tuple[int, float, float, float, float]:
    """(rows, server CPU s, wall s, seconds to first byte, peak server RSS MB) of one export."""
    peak = server.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            peak = max(peak, server.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    cpu = sum(server.cpu_times()[:2])
    start = time.perf_counter()
    first = None
    lines = 0
    try:
        with httpx.stream(
            "GET",
            f"{base}/v1/estimates.csv",
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=600,
        ) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                if first is None:
                    first = time.perf_counter() - start
                lines += chunk.count(b"\n")
    finally:
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    return lines - 1, sum(server.cpu_times()[:2]) - cpu, wall, first or wall, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000, help="estimates stored (CSV rows)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="ratecard-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with database(args.db, workdir) as url:
            env = {
                **os.environ,
                "RATECARD_PORT": str(port),
                "RATECARD_ADMIN_API_KEY": KEY,
                "RATECARD_RUN_WATCHER": "false",
                "RATECARD_LOG_LEVEL": "WARNING",
                "RATECARD_DATABASE_URL": url,
            }
            proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve"], cwd=workdir, env=env
            )
            try:
                wait_until_up(base, proc)
                began = time.perf_counter()
                one = seed(base, url, args.rows)
                print(f"stored {args.rows:,} estimates in {time.perf_counter() - began:.1f} s")
                server = psutil.Process(proc.pid)
                paths = {
                    "GET /healthz": "/healthz",
                    "GET /v1/estimates/{id}": f"/v1/estimates/{one}",
                    "GET /v1/estimates?limit=100": "/v1/estimates?limit=100",
                }
                for path in paths.values():  # warm-up: caches, pools, lazy imports
                    cpu_per_request(server, base, path, 1)
                runs: dict[str, list[float]] = {name: [] for name in paths}
                for _ in range(args.rounds):
                    for name, path in paths.items():
                        runs[name].append(cpu_per_request(server, base, path, args.seconds))
                rss_before = server.memory_info().rss / 2**20
                rows, cpu, wall, first, peak = export(server, base)
                rss_after = server.memory_info().rss / 2**20
            finally:
                proc.terminate()
                proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"database {args.db}, {args.rows:,} stored estimates, 16 keep-alive clients, "
        f"{args.rounds} interleaved rounds of {args.seconds:g} s, {os.cpu_count()} cores shared"
    )
    trivial = statistics.median(runs["GET /healthz"])
    print(f"{'endpoint':<30}{'server CPU/request':>20}{'x /healthz':>12}")
    for name, values in runs.items():
        cpu_ms = statistics.median(values)
        ratio = cpu_ms / trivial
        goal = {"GET /v1/estimates/{id}": "one", "GET /v1/estimates?limit=100": "page"}.get(name)
        verdict = ""
        if goal:
            verdict = f"  (goal <= {GOALS[goal]:g}x) {'PASS' if ratio <= GOALS[goal] else 'MISS'}"
        print(f"{name:<30}{cpu_ms:>17.3f} ms{ratio:>11.1f}x{verdict}")
    per_row = 1e6 * cpu / max(rows, 1)
    verdict = "PASS" if per_row <= GOAL_US_PER_ROW else "MISS"
    print(
        f"GET /v1/estimates.csv: {rows:,} rows, server CPU {cpu:.2f} s = {per_row:.2f} us/row "
        f"(goal <= {GOAL_US_PER_ROW:g}) {verdict}; wall {wall:.2f} s, first byte after "
        f"{1000 * first:.0f} ms, server RSS {rss_before:.0f} MB before, peak {peak:.0f} MB, "
        f"{rss_after:.0f} MB after"
    )


if __name__ == "__main__":
    main()
