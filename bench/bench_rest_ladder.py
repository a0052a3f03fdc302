"""Where the inference estimate's time goes: the same server, one stage of its work added at a time.

bench_rest.py compares `POST /v1/estimates/inference` with `GET /healthz`. This script explains
the gap. It serves the real app (create_app, as `ratecard serve` builds it) with a few extra
diagnostic routes, each doing one more stage of the estimate's work than the one before, and
drives them all in interleaved rounds with the same clients:

    1. GET /healthz                         the trivial endpoint
    2. POST, body read, constant answer     + a request body
    3. ... + validated as InferenceRequest   + validation
    4. ... + priced, the result returned     + pricing (cached price reference)
    5. ... + the key checked                 + authentication (cached key)
    6. ... + stored by the group commit      + the durable write (EstimateWriter)
    7. POST /v1/estimates/inference          the real endpoint

Stage 5 is everything the estimate does except storing its record. Then, on SQLite, it measures
a floor for the write: the server's own estimate rows copied with new ids through plain sqlite3
(no SQLAlchemy, no threads, no event loop), in batches as large as the number of clients, which
no group commit can beat. From that it prints the best estimate / trivial ratio any
implementation that stores each estimate before answering 201 could reach here.

    .venv/bin/python bench/bench_rest_ladder.py [--clients 32] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from bench_rest import BODY, KEY, Round, drive, free_port, measure, wait_until_up

LADDER = "/bench/ladder"
STAGES = {
    "1 GET /healthz (trivial)": ("GET", "/healthz"),
    "2 + request body": ("POST", f"{LADDER}/body"),
    "3 + validation": ("POST", f"{LADDER}/validated"),
    "4 + pricing": ("POST", f"{LADDER}/priced"),
    "5 + key check": ("POST", f"{LADDER}/keyed"),
    "6 + group-commit write": ("POST", f"{LADDER}/stored"),
    "7 POST /v1/estimates/inference": ("POST", "/v1/estimates/inference"),
}


def serve(port: int) -> None:
    """The real app plus the ladder routes, served as `ratecard serve` serves it."""
    import uvicorn
    from starlette.requests import Request
    from starlette.routing import Route

    from service.app import create_app
    from service.commands import bootstrap_admin_key
    from service.deps import bearer_credentials, cached_caller
    from service.estimates.recording import CompactJSONResponse
    from service.estimates.schemas import InferenceRequest
    from service.estimates.service import inference_estimate
    from service.prices.service import cached_reference
    from service.settings import get_settings

    settings = get_settings(port=port)
    app = create_app(settings, run_background=False)
    bootstrap_admin_key(app, settings)
    engine, writer = app.state.engine, app.state.estimate_writer
    constant = {"status": "ok"}

    async def body(request: Request) -> CompactJSONResponse:
        await request.body()
        return CompactJSONResponse(constant, status_code=201)

    async def validated(request: Request) -> CompactJSONResponse:
        InferenceRequest.model_validate_json(await request.body())
        return CompactJSONResponse(constant, status_code=201)

    def price(raw: bytes, name: str) -> Any:
        reference = cached_reference(engine)
        if reference is None:
            raise RuntimeError("warm the real endpoint first: no cached price reference yet")
        return inference_estimate(
            reference, request=InferenceRequest.model_validate_json(raw), requested_by=name
        )

    async def priced(request: Request) -> CompactJSONResponse:
        return CompactJSONResponse(price(await request.body(), "bench").result, status_code=201)

    async def keyed(request: Request) -> CompactJSONResponse:
        caller = await cached_caller(request, await bearer_credentials(request), scope="estimate")
        new = price(await request.body(), caller.principal.name)
        return CompactJSONResponse(new.result, status_code=201)

    async def stored(request: Request) -> CompactJSONResponse:
        caller = await cached_caller(request, await bearer_credentials(request), scope="estimate")
        new = price(await request.body(), caller.principal.name)
        await writer.write(
            new.row, reference_revision=new.reference_revision, key_id=caller.principal.key_id
        )
        return CompactJSONResponse(new.result, status_code=201)

    for name, handler in [
        ("body", body),
        ("validated", validated),
        ("priced", priced),
        ("keyed", keyed),
        ("stored", stored),
    ]:
        app.router.routes.insert(0, Route(f"{LADDER}/{name}", handler, methods=["POST"]))
    gc.freeze()  # as `ratecard serve` does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def write_floor(database: Path, batch: int, batches: int = 300) -> float:
    """Microseconds per row to store copies of the server's estimate rows through plain sqlite3,
    committed `batch` rows at a time, with the connection settings the service uses."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        # Column names come from the database's own schema, not from input.
        columns = [row[1] for row in connection.execute("PRAGMA table_info(estimates)")]
        names = ", ".join(columns)
        rows = connection.execute(f"SELECT {names} FROM estimates LIMIT ?", (batch,))  # noqa: S608
        template = [list(row) for row in rows]
        if len(template) < batch:
            sys.exit("the server stored fewer estimates than one batch")
        marks = ", ".join("?" * len(columns))
        insert = f"INSERT INTO estimates ({names}) VALUES ({marks})"  # noqa: S608
        key = columns.index("id")
        elapsed = 0.0
        for _ in range(batches):
            copies = []
            for row in template:
                row[key] = "est_" + secrets.token_hex(8)
                copies.append(tuple(row))
            start = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(insert, copies)
            connection.execute("COMMIT")
            elapsed += time.perf_counter() - start
        return 1e6 * elapsed / (batch * batches)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="keep-alive clients")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    workdir = Path(tempfile.mkdtemp(prefix="ratecard-ladder-"))
    port = free_port()
    env = {
        **os.environ,
        "RATECARD_ADMIN_API_KEY": KEY,
        "RATECARD_RUN_WATCHER": "false",
        "RATECARD_LOG_LEVEL": "WARNING",
        "RATECARD_DATABASE_URL": f"sqlite:///{workdir / 'ratecard.db'}",
    }
    script = Path(__file__).resolve()
    proc = subprocess.Popen([sys.executable, str(script), "--serve", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    runs: dict[str, list[Round]] = {name: [] for name in STAGES}
    try:
        wait_until_up(base, proc)
        server = psutil.Process(proc.pid)
        # The real endpoint first: it loads the price reference and the key into their caches.
        for method, path in reversed(STAGES.values()):
            asyncio.run(drive(base, method, path, 1, args.clients, BODY))
        for _ in range(args.rounds):
            for name, (method, path) in STAGES.items():
                runs[name].append(
                    measure(server, base, method, path, args.seconds, args.clients, BODY)
                )
    finally:
        proc.terminate()
        proc.wait()

    print(
        f"SQLite, {args.clients} aiohttp keep-alive clients, {args.rounds} interleaved rounds of "
        f"{args.seconds:g} s, {os.cpu_count()} cores shared by server and client"
    )
    print(f"{'stage':<34}{'requests/s':>11}{'of trivial':>11}{'server CPU/request':>21}")
    trivial_rps = statistics.median(r.rps for r in runs["1 GET /healthz (trivial)"])
    cpu: dict[str, float] = {}
    for name, rounds in runs.items():
        rps = statistics.median(r.rps for r in rounds)
        cpu[name] = statistics.median(r.cpu_ms_per_request for r in rounds)
        print(f"{name:<34}{rps:>11.0f}{rps / trivial_rps:>11.0%}{cpu[name]:>18.3f} ms")
    try:
        floor_us = write_floor(workdir / "ratecard.db", batch=args.clients)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    trivial, unstored = cpu["1 GET /healthz (trivial)"], cpu["5 + key check"]
    best = trivial / (unstored + floor_us / 1000)
    print(
        f"\nwrite floor: {floor_us:.1f} us per row through plain sqlite3, {args.clients} rows "
        "per commit (the largest batch this many clients can make)"
    )
    print(
        f"best estimate / trivial with a stored record, by server CPU: {trivial:.3f} / "
        f"({unstored:.3f} + {floor_us / 1000:.3f}) = {best:.0%} (target 70%)"
    )


if __name__ == "__main__":
    main()
