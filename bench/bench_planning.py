"""The end-of-fine-tuning views: time of the inventory and of one model's scenarios.

An in-process app on a fresh SQLite file. N fine-tuned models (default 20) on four families each
serve one request every 10 minutes for the last 7 days (the default traffic window), beside base
traffic on the same pools. Prints milliseconds per call of `GET /v1/planning/fine-tuned-models`
(OpenAI not asked) and `GET /v1/planning/fine-tuned-models/{ft}/scenarios` (the recommended
replacement plus one named model), median of the runs.

    .venv/bin/python bench/bench_planning.py [--models 20] [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from service.app import create_app
from service.auth.service import create_key
from service.db import session_scope
from service.planning.router import planning_now
from service.settings import get_settings
from service.usage.router import current_time

BASES = (
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
)
NOW = datetime(2026, 12, 7, 12, 0, 5, tzinfo=UTC)


def seed(client: TestClient, models: list[str]) -> int:
    events: list[dict[str, Any]] = []
    sent = 0
    for step in range(0, 7 * 24 * 6 - 1):
        moment = (NOW - timedelta(minutes=10 * step)).isoformat()
        for i, model in enumerate(models):
            events.append(
                {
                    "model": model,
                    "prompt_tokens": 200 + i,
                    "completion_tokens": 100,
                    "timestamp": moment,
                }
            )
        events.append(
            {
                "model": "gpt-4o-mini",
                "prompt_tokens": 5000,
                "completion_tokens": 0,
                "timestamp": moment,
            }
        )
        if len(events) >= 5000:
            assert client.post("/v1/usage", json={"events": events}).status_code == 200
            sent += len(events)
            events = []
    if events:
        assert client.post("/v1/usage", json={"events": events}).status_code == 200
        sent += len(events)
    return sent


def timed(client: TestClient, path: str, runs: int, **params: str) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        r = client.get(path, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.text
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = get_settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            upload_dir=Path(tmp) / "uploads",
            run_watcher=False,
        )
        app = create_app(settings, run_background=False)
        app.dependency_overrides[planning_now] = lambda: NOW
        app.dependency_overrides[current_time] = lambda: NOW
        secret = "rc_bench_admin_key_0123456789abcdef"  # noqa: S105 (a throwaway database)
        with session_scope(app.state.engine) as session:
            create_key(session, name="admin", scopes=["admin"], secret=secret)
        models = [f"ft:{BASES[i % len(BASES)]}:acme:bench{i}:id{i:04d}" for i in range(args.models)]
        with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as client:
            events = seed(client, models)
            inventory = timed(client, "/v1/planning/fine-tuned-models", args.runs, openai="false")
            scenarios = timed(
                client,
                f"/v1/planning/fine-tuned-models/{models[0]}/scenarios",
                args.runs,
                model="gpt-4o-mini",
                prompt_cut_pct="90",
            )
    print(f"{args.models} fine-tuned models, {events:,} usage events over 7 days (SQLite)")
    print(f"inventory:            {inventory:8.1f} ms (median of {args.runs})")
    print(f"scenarios of one:     {scenarios:8.1f} ms (median of {args.runs})")


if __name__ == "__main__":
    main()
