"""The spend report adds up in the database, exactly, and gives what the per-job rule gives."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from pricing.money import format_usd
from service.db import alembic_config, create_db_engine, migrate, session_scope
from service.jobs.costs import spend_of
from service.jobs.models import Job
from tests.service.jobs.conftest import JobsEnv

STATUSES = [
    "succeeded", "failed", "cancelled", "running", "queued", "validating_files",
    "launching", "launch_failed", "launch_unknown", "lost", "closed",
]  # fmt: skip
TEAMS = ["a", "b", None, "", "ml platform"]
MODELS = ["gpt-4o-mini-2024-07-18", "gpt-3.5-turbo-0125"]
FIRST = datetime(2026, 1, 30, 23, 59, 59, 999_999, tzinfo=UTC)


def amount(rng: random.Random) -> Decimal | None:
    return rng.choice(
        [None, Decimal("0.000001"), Decimal("2.40"), Decimal(rng.randint(0, 10**9)) / 10**6]
    )


def seeded_jobs(rng: random.Random, n: int) -> Iterator[Job]:
    for i in range(n):
        model = rng.choice(MODELS)
        yield Job(
            id=f"job_{i:020d}",
            openai_job_id=f"ftjob-{i}" if i % 3 else None,
            source="launch",
            status=rng.choice(STATUSES),
            team=rng.choice(TEAMS),
            launcher="seed",
            requested_model=model,
            model=model,
            created_at=FIRST + timedelta(hours=rng.randint(0, 24 * 80)),
            estimated_cost_usd=amount(rng),
            actual_cost_usd=amount(rng),
        )


def expected(jobs: list[Job], start: date, end: date, group_by: str) -> dict[str, Any]:
    """The report as the per-job rule (spend_of) makes it, added up in Python with Decimal."""
    groups: dict[str, dict[str, Any]] = {}
    for job in sorted(jobs, key=lambda j: (j.created_at, j.id)):
        if job.status in ("launch_failed", "launch_unknown"):
            continue
        if not start <= job.created_at.date() <= end:
            continue
        key = {
            "month": job.created_at.strftime("%Y-%m"),
            "team": job.team or "(no team)",
            "model": job.model,
            "job": job.id,
        }[group_by]
        for name in (key, "total"):
            g = groups.setdefault(name, {"n": 0, "actual": Decimal(0), "estimated": Decimal(0)})
            spent, basis = spend_of(job)
            g["n"] += 1
            g[basis] = g.get(basis, Decimal(0)) + spent
            g[f"n_{basis}"] = g.get(f"n_{basis}", 0) + 1
    return {
        name: (
            g["n"], g.get("n_actual", 0), g.get("n_estimated", 0), g.get("n_none", 0),
            format_usd(g["actual"]), format_usd(g["estimated"]),
            format_usd(g["actual"] + g["estimated"]),
        )
        for name, g in groups.items()
    }  # fmt: skip


def reported(env: JobsEnv, start: date, end: date, group_by: str) -> dict[str, Any]:
    response = env.reader.get(
        "/v1/reports/training-spend",
        params={"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    rows = [*body["rows"], body["totals"]]
    keys = [r["group"] for r in body["rows"]]
    if group_by != "job":
        assert keys == sorted(keys)
    return {
        r["group"]: (
            r["jobs"], r["jobs_actual"], r["jobs_estimated"], r["jobs_unpriced"],
            r["actual_usd"], r["estimated_usd"], r["total_usd"],
        )
        for r in rows
    }  # fmt: skip


def test_spend_in_sql__every_grouping_matches_the_per_job_rule_to_the_digit(env: JobsEnv) -> None:
    jobs = list(seeded_jobs(random.Random(15), 400))
    with session_scope(env.app.state.engine) as session:
        session.add_all(jobs)

    for start, end in [
        (date(2026, 1, 1), date(2026, 12, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    ]:
        for group_by in ("month", "team", "model", "job"):
            assert reported(env, start, end, group_by) == expected(jobs, start, end, group_by)


def test_spend_in_sql__the_database_groups_the_jobs(env: JobsEnv) -> None:
    with session_scope(env.app.state.engine) as session:
        session.add_all(seeded_jobs(random.Random(16), 50))
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine: Engine = env.app.state.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        reported(env, date(2026, 1, 1), date(2026, 12, 31), "team")
    finally:
        event.remove(engine, "before_cursor_execute", record)

    on_jobs = [s for s in statements if "FROM jobs" in s]
    assert on_jobs and all("GROUP BY" in s for s in on_jobs), on_jobs


def test_spend_in_sql__the_migration_backfills_existing_jobs(database_url: str) -> None:
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003_jobs")
        conn.execute(
            text(
                "INSERT INTO jobs (id, source, status, launcher, requested_model, model, "
                "hyperparameters, estimated_cost_usd, actual_cost_usd, created_at, updated_at) "
                "VALUES ('job_old', 'launch', 'succeeded', 'k', 'm', 'm', '{}', '2.40', "
                "'0.000075', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    migrate(engine)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT estimated_micros, actual_micros, missing_checks FROM jobs")
        ).one()
    engine.dispose()
    assert tuple(row) == (2_400_000, 75, 0)
