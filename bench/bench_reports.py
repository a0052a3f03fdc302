"""Training-spend report latency over 1,000 and 100,000 jobs, beside /healthz on the same server.

For each database (a fresh SQLite file; PostgreSQL too when one answers at 127.0.0.1:5432, in a
fresh database dropped afterwards) and each size, seeds that many jobs straight into the tables
(a year of them across 20 teams and 5 models, every status, actual, estimated and unpriced),
starts `ratecard serve` (uvicorn, one process) on it and times sequential keep-alive requests:
`GET /healthz`, the report grouped by month, team and model, and the CSV. Target: each grouped
report answers over 100,000 jobs in under 100 ms. `group_by=job` lists every job, so its time
grows with the rows it returns; it is shown for scale.

    .venv/bin/python bench/bench_reports.py [--sizes 1000,100000] [--calls 20] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psutil
from sqlalchemy import insert, text
from support import free_port, fresh_postgres, postgres_running

from service.db import create_db_engine, migrate
from service.jobs.models import Job, to_micros

KEY = "rc_ea05e7e30d87cd98669fcd0fe3cd384f5c5406d53b0cb123e6bd206df925b06d"
TARGET_MS = 100.0
STATUSES = ["succeeded"] * 6 + ["failed", "cancelled", "running", "queued", "launch_failed", "lost"]
MODELS = [
    "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125",
    "gpt-4o-2024-08-06",
    "gpt-4.1-mini-2025-04-14",
    "davinci-002",
]
YEAR = datetime(2026, 1, 1, tzinfo=UTC)
QUERY = {"from": "2026-01-01", "to": "2026-12-31"}


def job_rows(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(n):
        created = YEAR + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        status = rng.choice(STATUSES)
        estimated = Decimal(rng.randrange(1, 50_000_000)) / 10**6 if i % 10 else None
        actual = Decimal(rng.randrange(0, 50_000_000)) / 10**6 if status == "succeeded" else None
        model = MODELS[i % len(MODELS)]
        yield {
            "id": f"job_{i:020x}",
            "openai_job_id": f"ftjob-bench{i}",
            "source": "launch",
            "status": status,
            "team": f"team-{i % 20}",
            "launcher": "bench",
            "requested_model": model,
            "model": model,
            "hyperparameters": {},
            "estimated_cost_usd": estimated,
            "estimated_micros": to_micros(estimated),
            "actual_cost_usd": actual,
            "actual_micros": to_micros(actual),
            "created_at": created,
            "updated_at": created,
            "seen_running": status == "succeeded",
            "events_pending": False,
            "missing_checks": 0,
        }


def seed(url: str, n: int) -> float:
    engine = create_db_engine(url)
    migrate(engine)
    started = time.perf_counter()
    rows = list(job_rows(n, random.Random(16)))
    table = Job.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for start in range(0, n, 5_000):
            conn.execute(insert(table), rows[start : start + 5_000])
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load: statistics, and the visibility map that
        # lets the report read its covering indexes alone.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE jobs"))
    engine.dispose()
    return time.perf_counter() - started


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def timed(
    client: httpx.Client,
    path: str,
    params: dict[str, str],
    calls: int,
    warm_up: int = 2,
    server: list[psutil.Process] | None = None,
) -> tuple[float, float]:
    """Median wall milliseconds of `calls` sequential requests (after `warm_up` calls), and the
    CPU milliseconds per request of `server` (the app and, when given, PostgreSQL's backends):
    on a shared machine the wall time swings with the load, the CPU time much less."""
    samples = []
    cpu_before = 0.0
    for i in range(calls + warm_up):
        if i == warm_up:
            cpu_before = cpu_seconds(server or [])
        start = time.perf_counter()
        response = client.get(path, params=params)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        if i >= warm_up:
            samples.append(elapsed * 1000)
    cpu = (cpu_seconds(server or []) - cpu_before) * 1000 / calls
    return statistics.median(samples), cpu


def serve(url: str, workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "RATECARD_PORT": str(port),
        "RATECARD_ADMIN_API_KEY": KEY,
        "RATECARD_RUN_WATCHER": "false",
        "RATECARD_RUN_DISPATCHER": "false",
        "RATECARD_LOG_LEVEL": "WARNING",
        "RATECARD_DATABASE_URL": url,
    }
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=workdir, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    sys.exit("the server did not come up in 30 s")


def run(database: str, url: str, n: int, calls: int) -> None:
    seconds = seed(url, n)
    workdir = tempfile.mkdtemp(prefix="ratecard-bench-")
    proc, base = serve(url, workdir)
    server = [psutil.Process(proc.pid)]
    if url.startswith("postgresql"):
        server += [p for p in psutil.process_iter(["name", "cmdline"]) if is_backend(p)]
    report = "/v1/reports/training-spend"
    try:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=300
        ) as client:
            healthz, healthz_cpu = timed(client, "/healthz", {}, calls, server=server)
            figures = {
                f"group_by={g}": timed(
                    client, report, {**QUERY, "group_by": g}, calls, server=server
                )
                for g in ("month", "team", "model")
            }
            figures["CSV group_by=team"] = timed(
                client, f"{report}.csv", {**QUERY, "group_by": "team"}, calls, server=server
            )
            figures["group_by=job (every row)"] = timed(
                client, report, {**QUERY, "group_by": "job"}, 1, warm_up=0, server=server
            )
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{database}, {n:,} jobs (seeded in {seconds:.1f} s); /healthz {healthz:.2f} ms wall, "
        f"{healthz_cpu:.2f} ms CPU"
    )
    for name, (ms, cpu) in figures.items():
        verdict = "" if "job" in name else ("  PASS" if ms < TARGET_MS else "  MISS")
        print(
            f"  {name:<26}{ms:9.2f} ms wall {ms / healthz:7.1f}x /healthz{cpu:9.2f} ms CPU{verdict}"
        )


def is_backend(process: psutil.Process) -> bool:
    """A PostgreSQL backend serving ratecard's connections (its CPU is the query's)."""
    try:
        line = " ".join(process.info.get("cmdline") or [])
    except psutil.Error:
        return False
    return line.startswith("postgres: ") and "ratecard_bench_" in line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=lambda t: [int(x) for x in t.split(",")], default=[1_000, 100_000]
    )
    parser.add_argument("--calls", type=int, default=20, help="timed calls per endpoint")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"median of sequential keep-alive requests (httpx) to `ratecard serve`, "
        f"{os.cpu_count()} cores; target: grouped report < {TARGET_MS:g} ms at 100,000 jobs"
    )
    for n in args.sizes:
        folder = tempfile.mkdtemp(prefix="ratecard-bench-db-")
        try:
            run("SQLite", f"sqlite:///{folder}/ratecard.db", n, args.calls)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if args.no_postgres:
            continue
        if not postgres_running():
            print("\nPostgreSQL: not running at 127.0.0.1:5432, skipped")
            continue
        with fresh_postgres() as url:
            run("PostgreSQL", url, n, args.calls)


if __name__ == "__main__":
    main()
