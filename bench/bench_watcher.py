"""Benchmark: OpenAI requests (and wall time) per watcher tick for 1,000 watched jobs.

    .venv/bin/python bench/bench_watcher.py
    .venv/bin/python bench/bench_watcher.py --jobs 5000 --other-jobs 5000
    .venv/bin/python bench/bench_watcher.py --postgres   # a throwaway database on 127.0.0.1:5432

The fake OpenAI API runs under uvicorn on a loopback port (real HTTP, real pagination); the
request counts are the fake's own counters, so they are what OpenAI would see. Scenarios:

* steady:   every watched job queued, nothing changed since the last tick
* running:  every watched job running: events are fetched, capped per tick
* finishing: every watched job finishes at once: statuses, actual costs, job.finished events
* crowded:  as steady, but the organisation has as many other (unwatched) jobs interleaved

A watcher that retrieved each job individually would make one request per watched job per tick.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from service.db import create_db_engine, migrate, session_scope  # noqa: E402
from service.fakes.openai import (  # noqa: E402
    FakeOpenAIState,
    ManualClock,
    approximate_text_tokens,
    create_fake_openai_app,
)
from service.jobs.models import Job  # noqa: E402
from service.jobs.watcher import JobWatcher  # noqa: E402
from service.settings import get_settings  # noqa: E402

STEP = 60
LIST, RETRIEVE, EVENTS = (
    "GET /v1/fine_tuning/jobs",
    "GET /v1/fine_tuning/jobs/{job_id}",
    "GET /v1/fine_tuning/jobs/{job_id}/events",
)
TRAINING = "".join(
    json.dumps(
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
    )
    + "\n"
    for i in range(10)
)


def serve(state: FakeOpenAIState) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_fake_openai_app(state), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def scenario(
    name: str, *, jobs: int, other_jobs: int, database_url: str | None, events_per_tick: int
) -> None:
    clock = ManualClock(start=time.time())
    state = FakeOpenAIState(
        clock=clock, step_seconds=STEP, count_text_tokens=approximate_text_tokens
    )
    server, thread, base_url = serve(state)
    tmp = tempfile.mkdtemp(prefix="bench-watcher-")
    url = database_url or f"sqlite:///{tmp}/bench.db"
    settings = get_settings(
        database_url=url,
        openai_base_url=base_url,
        openai_api_key="sk-bench",
        watch_events_per_tick=events_per_tick,
        run_watcher=False,
    )
    engine = create_db_engine(url)
    migrate(engine)
    try:
        with session_scope(engine) as session:
            session.exec(Job.__table__.delete())  # type: ignore[attr-defined]  # the previous scenario's
        file_id = state.add_file("tiny.jsonl", TRAINING.encode())
        ids = [
            str(state.create_job({"model": "gpt-3.5-turbo", "training_file": file_id})["id"])
            for _ in range(jobs + other_jobs)
        ]
        spacing = (jobs + other_jobs) / jobs  # watched jobs spread evenly among the others
        watched = [ids[int(i * spacing)] for i in range(jobs)]
        clock.advance(STEP)  # all queued
        with session_scope(engine) as session:
            for n, openai_id in enumerate(watched):
                created = datetime.fromtimestamp(int(state.job(openai_id).created), UTC)
                session.add(
                    Job(
                        id=f"job_bench{n:07d}",
                        openai_job_id=openai_id,
                        source="watch",
                        status="queued",
                        launcher="bench",
                        requested_model="gpt-3.5-turbo",
                        model="gpt-3.5-turbo-0125",
                        hyperparameters={},
                        created_at=created,
                        openai_created_at=created,
                    )
                )
        watcher = JobWatcher(engine=engine, settings=settings)
        if name == "running":
            clock.advance(STEP)
            watcher.tick()  # record "running" (and drain the first events) before measuring
        if name == "finishing":
            clock.advance(STEP)
            watcher.tick()
            clock.advance(STEP)
        state.reset_counts()
        started = time.perf_counter()
        report = watcher.tick()
        elapsed = time.perf_counter() - started
        c = state.request_counts
        total = c[LIST] + c[RETRIEVE] + c[EVENTS]
        print(
            f"{name:<10} {len(watched):>7,} watched {other_jobs:>7,} others | {total:>5} requests "
            f"({c[LIST]} list, {c[RETRIEVE]} retrieve, {c[EVENTS]} events) | "
            f"naive {len(watched):,} | {report.finished:>5} finished | {elapsed:6.2f} s"
        )
        watcher.release_lease()
    finally:
        engine.dispose()
        server.should_exit = True
        thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument(
        "--other-jobs", type=int, default=None, help="unwatched jobs for 'crowded' (default --jobs)"
    )
    parser.add_argument("--events-per-tick", type=int, default=50)
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        metavar="ADMIN_URL",
        help="run on a throwaway database created on this PostgreSQL server "
        "(default: a temporary SQLite file)",
    )
    args = parser.parse_args()
    with throwaway_database(args.postgres) as database_url:
        run(args, database_url)


@contextmanager
def throwaway_database(admin_url: str | None) -> Iterator[str | None]:
    """A fresh PostgreSQL database, dropped afterwards, so the bench never touches real data."""
    if admin_url is None:
        yield None
        return
    from sqlalchemy import create_engine, text

    name = f"ratecard_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(args: argparse.Namespace, database_url: str | None) -> None:
    print(
        f"watcher tick cost, {args.jobs:,} watched jobs, "
        f"events capped at {args.events_per_tick}/tick"
    )
    for name in ("steady", "running", "finishing"):
        scenario(
            name,
            jobs=args.jobs,
            other_jobs=0,
            database_url=database_url,
            events_per_tick=args.events_per_tick,
        )
    scenario(
        "crowded",
        jobs=args.jobs,
        other_jobs=args.jobs if args.other_jobs is None else args.other_jobs,
        database_url=database_url,
        events_per_tick=args.events_per_tick,
    )


if __name__ == "__main__":
    main()
