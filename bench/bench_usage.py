"""Usage tracking: batched ingest throughput and pool read latency at 10^3 and 10^6 stored events.

    .venv/bin/python bench/bench_usage.py                 # SQLite and (if running) PostgreSQL
    .venv/bin/python bench/bench_usage.py --db sqlite --batches 5

For each database: store 10^3 events of history, time pool reads and batched ingest, grow the
history to 10^6 events (written straight into the 10-second buckets and the request-id table, as
ingest would have left them), then time both again. Reads and "HTTP" ingest go through a real
`ratecard serve` process over loopback (one client, one request at a time); "service" ingest
calls the service function in-process (validated events in, committed transaction out). Then, on
PostgreSQL, several `ratecard serve` replicas share one database and concurrent clients send
batches to them. Every event carries a unique request_id, the expensive case.
Targets: >= 50,000 events/s batched; read latency independent of the history size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from support import fresh_postgres, postgres_running  # noqa: E402

from service.app import create_app  # noqa: E402
from service.db import session_scope  # noqa: E402
from service.settings import get_settings  # noqa: E402
from service.usage import ingest  # noqa: E402
from service.usage.schemas import UsageEventIn  # noqa: E402
from service.usage.store import BUCKETS, REQUEST_IDS  # noqa: E402

ADMIN = "rc_394e5e1894b777da03c493a35a4447105a9ae6b24a9cfefcac737660e8c59116"
MODELS = [
    "gpt-3.5-turbo-0125",
    "ft:gpt-3.5-turbo-0613:acme::aaa111",
    "ft:gpt-3.5-turbo-1106:acme:support:bbb222",
    "gpt-3.5-turbo-0613",
]
BATCH = 10_000
TARGET_EVENTS_PER_S = 50_000


@dataclass
class Row:
    db: str
    stored: int
    http_events_per_s: float
    service_events_per_s: float
    pool_p50_ms: float
    pool_p95_ms: float
    pools_p50_ms: float
    history_p50_ms: float


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ratecard-bench-") as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    with fresh_postgres() as url:
        yield url


def seed_history(engine: Any, *, events: int, end: int, start_id: int) -> int:
    """Write `events` past events (up to 7 days of buckets ending at `end`, 4 models) straight into
    buckets and request ids; returns the first bucket used."""
    buckets = min(events // len(MODELS), 7 * 8640) or 1
    slots = [(end - i * 10, model) for i in range(buckets) for model in MODELS]
    base, extra = divmod(events, len(slots))
    rows: list[dict[str, object]] = []
    for n, (b, m) in enumerate(slots):
        requests = base + (1 if n < extra else 0)
        if requests:
            rows.append(
                {
                    "org": "default",
                    "family": "gpt-3.5-turbo",
                    "bucket": b,
                    "model": m,
                    "requests": requests,
                    "tokens": requests * 900,
                    "prompt_tokens": requests * 900,
                    "completion_tokens": 0,
                }
            )
    ids = [
        {
            "org": "default",
            "request_id": f"hist-{start_id + i}",
            "event_ts": end - (i % (buckets * 10)),
        }
        for i in range(events)
    ]
    with session_scope(engine) as session:
        for chunk in range(0, len(rows), 10_000):
            session.execute(insert(BUCKETS), rows[chunk : chunk + 10_000])
        for chunk in range(0, len(ids), 10_000):
            session.execute(insert(REQUEST_IDS), ids[chunk : chunk + 10_000])
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE usage_buckets"))
            conn.execute(text("ANALYZE usage_request_ids"))
            conn.commit()
    return end - (buckets - 1) * 10


def make_events(n: int, rng: random.Random, prefix: str, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "model": rng.choice(MODELS),
            "prompt_tokens": rng.randint(10, 3000),
            "completion_tokens": rng.randint(0, 500),
            "max_tokens": rng.choice([None, 512]),
            "request_id": f"{prefix}-{i}",
            "timestamp": (now - timedelta(seconds=rng.uniform(0, 50))).isoformat(),
        }
        for i in range(n)
    ]


def time_calls(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm up caches and connections
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * 0.95 + 0.999999) - 1, 0)]


def measure(kind: str, url: str, stored: int, batches: int, reads: int, rng: random.Random) -> Row:
    settings = get_settings(database_url=url, run_watcher=False)
    engine = create_app(settings, run_background=False).state.engine
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    # Encoded up front: the client's JSON encoding is not the service's cost.
    bodies = [
        json.dumps({"events": make_events(BATCH, rng, f"http-{tag}-{b}", now)}).encode()
        for b in range(batches)
    ]
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    with (
        serve_processes(url, 1) as [base],
        httpx.Client(base_url=base, headers=headers, timeout=120) as client,
    ):

        def read_pool() -> None:
            assert client.get("/v1/usage/pools/gpt-3.5-turbo").status_code == 200

        def read_pools() -> None:
            assert client.get("/v1/usage/pools").status_code == 200

        def read_history() -> None:
            assert client.get("/v1/usage/pools/gpt-3.5-turbo/history").status_code == 200

        pool_ms = time_calls(read_pool, reads)
        pools_ms = time_calls(read_pools, max(reads // 4, 5))
        history_ms = time_calls(read_history, max(reads // 4, 5))

        started = time.perf_counter()
        for body in bodies:  # one client, one batch at a time
            r = client.post("/v1/usage", content=body)
            assert r.status_code == 200 and r.json()["accepted"] == BATCH, r.text
        http_rate = batches * BATCH / (time.perf_counter() - started)

    validated = [
        [UsageEventIn.model_validate(e) for e in make_events(BATCH, rng, f"svc-{tag}-{b}", now)]
        for b in range(batches)
    ]
    started = time.perf_counter()
    for events in validated:
        with session_scope(engine) as session:
            result = ingest.ingest(
                session, org="default", events=events, now=datetime.now(UTC), settings=settings
            )
            assert result["accepted"] == BATCH
    service_rate = batches * BATCH / (time.perf_counter() - started)
    engine.dispose()
    return Row(
        kind,
        stored,
        http_rate,
        service_rate,
        statistics.median(pool_ms),
        p95(pool_ms),
        statistics.median(pools_ms),
        statistics.median(history_ms),
    )


@contextmanager
def serve_processes(url: str, count: int) -> Iterator[list[str]]:
    """`ratecard serve` replicas on loopback ports, started one after the other (the first
    migrates)."""
    procs: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for _ in range(count):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            env = {
                **os.environ,
                "RATECARD_DATABASE_URL": url,
                "RATECARD_ADMIN_API_KEY": ADMIN,
                "RATECARD_RUN_WATCHER": "false",
                "RATECARD_PORT": str(port),
                "RATECARD_LOG_LEVEL": "WARNING",
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service.cli", "serve"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or procs[-1].poll() is not None:
                    raise RuntimeError("ratecard serve did not come up")
                time.sleep(0.1)
            bases.append(base)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def replica_throughput(kind: str, processes: int, clients: int, batches: int) -> float:
    """Aggregate events/s of `clients` concurrent senders spread over `processes` replicas."""
    rng = random.Random(11)
    with database(kind) as url, serve_processes(url, processes) as bases:
        now = datetime.now(UTC)
        bodies = [
            json.dumps({"events": make_events(BATCH, rng, f"rep-{b}", now)}).encode()
            for b in range(batches)
        ]
        sessions = [
            httpx.Client(
                base_url=bases[i % len(bases)],
                timeout=120,
                headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
            )
            for i in range(clients)
        ]

        def send(n: int) -> None:
            r = sessions[n % clients].post("/v1/usage", content=bodies[n])
            assert r.status_code == 200 and r.json()["accepted"] == BATCH, r.text

        send_warm = sessions[0].post(
            "/v1/usage", content=json.dumps({"events": make_events(10, rng, "w", now)})
        )
        assert send_warm.status_code == 200
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(send, range(batches)))
        rate = batches * BATCH / (time.perf_counter() - started)
        for session in sessions:
            session.close()
        return rate


def run(kind: str, batches: int, reads: int, big: int) -> list[Row]:
    rng = random.Random(7)
    rows = []
    with database(kind) as url:
        app = create_app(get_settings(database_url=url, run_watcher=False), run_background=False)
        engine = app.state.engine
        # History stops 2 minutes ago: the current window is left to live traffic.
        first = seed_history(
            engine, events=1_000, end=int(time.time()) // 10 * 10 - 120, start_id=0
        )
        rows.append(measure(kind, url, 1_000, batches, reads, rng))
        started = time.perf_counter()
        seed_history(engine, events=big - 1_000, end=first - 10, start_id=1_000)
        sys.stderr.write(
            f"{kind}: seeded {big:,} events of history in {time.perf_counter() - started:.1f} s\n"
        )
        engine.dispose()
        rows.append(measure(kind, url, big, batches, reads, rng))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--batches", type=int, default=5, help=f"batches of {BATCH:,} events per measurement"
    )
    parser.add_argument("--reads", type=int, default=200, help="pool reads per measurement")
    parser.add_argument(
        "--big", type=int, default=1_000_000, help="stored events for the large measurement"
    )
    parser.add_argument(
        "--skip-replicas", action="store_true", help="skip the multi-process HTTP run"
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in kinds and not postgres_running():
        sys.stderr.write("PostgreSQL is not running at 127.0.0.1:5432; skipping it\n")
        kinds.remove("postgres")
    rows = [row for kind in kinds for row in run(kind, args.batches, args.reads, args.big)]

    columns = [
        "database",
        "stored events",
        "ingest HTTP ev/s",
        "ingest service ev/s",
        "GET pool p50/p95 ms",
        "GET pools p50 ms",
        "history 1h p50 ms",
    ]
    table = [columns] + [
        [
            r.db,
            f"{r.stored:,}",
            f"{r.http_events_per_s:,.0f}",
            f"{r.service_events_per_s:,.0f}",
            f"{r.pool_p50_ms:.2f} / {r.pool_p95_ms:.2f}",
            f"{r.pools_p50_ms:.2f}",
            f"{r.history_p50_ms:.2f}",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    print(f"usage ingest (batches of {BATCH:,} events, each with a unique request_id) and reads")
    for line in table:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    for kind in kinds:
        small, large = (r for r in rows if r.db == kind)
        ratio = large.pool_p50_ms / small.pool_p50_ms
        print(
            f"{kind}: GET pool p50 with {large.stored:,} stored events is {ratio:.2f}x "
            f"the p50 with {small.stored:,}"
        )
    if not args.skip_replicas and "postgres" in kinds:
        batches = max(args.batches * 2, 12)
        print(
            f"`ratecard serve` replicas on one PostgreSQL, concurrent clients, {batches} batches:"
        )
        for processes, clients in ((1, 1), (1, 2), (2, 4), (3, 6)):
            rate = replica_throughput("postgres", processes, clients, batches)
            print(f"  {processes} process(es), {clients} client(s): {rate:>9,.0f} events/s")
    slowest = min(r.http_events_per_s for r in rows)
    verdict = "met" if slowest >= TARGET_EVENTS_PER_S else "not met by a single sequential client"
    print(
        f"target >= {TARGET_EVENTS_PER_S:,} events/s batched: slowest single-client HTTP figure "
        f"{slowest:,.0f} events/s ({verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
