"""The finance report: actual cost where known, the launch estimate otherwise, each row flagged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from service.db import session_scope
from service.jobs.models import Job
from service.types import utcnow
from tests.service.jobs.conftest import SQLITE_ONLY, JobsEnv


def spend_fixture(env: JobsEnv) -> dict[str, dict[str, str]]:
    """Team a: one finished (actual), one running (estimate); team b: one finished; one refusal."""
    env.fake.count_text_tokens = lambda text, encoding: len(text)  # actual != estimate
    finished_a = env.launch(team="a", hyperparameters={"n_epochs": 1}).json()
    finished_b = env.launch(team="b", model="gpt-4.1-mini", hyperparameters={"n_epochs": 1}).json()
    watcher = env.watcher()
    for _ in range(3):
        env.advance()
        watcher.tick()
    running_a = env.launch(team="a", hyperparameters={"n_epochs": 1}).json()
    env.admin.put("/v1/budgets/b", json={"monthly_usd": "0.00"})
    assert env.launch(team="b").status_code == 409  # refused: not spend
    return {
        "finished_a": env.job(finished_a["id"]),
        "finished_b": env.job(finished_b["id"]),
        "running_a": env.job(running_a["id"]),
    }


def test_report__by_team_counts_actual_where_known_and_flags_each_row(env: JobsEnv) -> None:
    jobs = spend_fixture(env)

    report = env.reader.get("/v1/reports/training-spend", params={"group_by": "team"}).json()

    actual_a = Decimal(jobs["finished_a"]["actual_cost_usd"])
    estimate_a = Decimal(jobs["running_a"]["estimated_cost_usd"])
    actual_b = Decimal(jobs["finished_b"]["actual_cost_usd"])
    assert actual_a != Decimal(jobs["finished_a"]["estimated_cost_usd"])
    [a, b] = report["rows"]
    assert (a["group"], a["jobs"], a["jobs_actual"], a["jobs_estimated"], a["basis"]) == (
        "a",
        2,
        1,
        1,
        "mixed",
    )
    assert Decimal(a["actual_usd"]) == actual_a and Decimal(a["estimated_usd"]) == estimate_a
    assert Decimal(a["total_usd"]) == actual_a + estimate_a
    assert (b["group"], b["jobs"], b["basis"], Decimal(b["total_usd"])) == (
        "b",
        1,
        "actual",
        actual_b,
    )
    assert Decimal(report["totals"]["total_usd"]) == actual_a + estimate_a + actual_b
    assert (
        report["totals"]["jobs"] == 3
        and report["group_by"] == "team"
        and report["currency"] == "USD"
    )


@SQLITE_ONLY
def test_report__by_model_and_by_job(env: JobsEnv) -> None:
    jobs = spend_fixture(env)

    by_model = env.reader.get("/v1/reports/training-spend", params={"group_by": "model"}).json()
    by_job = env.reader.get("/v1/reports/training-spend", params={"group_by": "job"}).json()

    assert [(r["group"], r["jobs"]) for r in by_model["rows"]] == [
        ("gpt-4.1-mini-2025-04-14", 1),
        ("gpt-4o-mini-2024-07-18", 2),
    ]
    rows = {r["group"]: r for r in by_job["rows"]}
    assert set(rows) == {j["id"] for j in jobs.values()}
    assert rows[jobs["running_a"]["id"]]["basis"] == "estimated"
    assert rows[jobs["finished_b"]["id"]]["status"] == "succeeded"


def test_report__by_month_within_the_requested_range(env: JobsEnv) -> None:
    this_month = utcnow().replace(day=1, hour=12)
    last_month = (this_month - timedelta(days=1)).replace(day=3)
    with session_scope(env.app.state.engine) as session:
        for job_id, created, cost in (
            ("job_last1", last_month, "1.25"),
            ("job_last2", last_month, "0.75"),
            ("job_older", last_month - timedelta(days=40), "9.00"),
        ):
            session.add(
                Job(
                    id=job_id,
                    source="launch",
                    status="succeeded",
                    team="a",
                    launcher="t",
                    requested_model="gpt-4o-mini",
                    model="gpt-4o-mini-2024-07-18",
                    hyperparameters={},
                    created_at=created,
                    actual_cost_usd=Decimal(cost),
                    estimated_cost_usd=Decimal("1"),
                )
            )
    env.launch()  # this month, estimate only

    report = env.reader.get(
        "/v1/reports/training-spend",
        params={
            "group_by": "month",
            "from": last_month.replace(day=1).date().isoformat(),
            "to": utcnow().date().isoformat(),
        },
    ).json()

    assert [(r["group"], r["jobs"], r["basis"]) for r in report["rows"]] == [
        (last_month.strftime("%Y-%m"), 2, "actual"),
        (this_month.strftime("%Y-%m"), 1, "estimated"),
    ]
    assert report["rows"][0]["total_usd"] == "2.00"
    assert report["from"] == last_month.replace(day=1).date().isoformat()


def test_report__csv_for_finance(env: JobsEnv) -> None:
    spend_fixture(env)

    response = env.reader.get("/v1/reports/training-spend.csv", params={"group_by": "team"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "team",
        "jobs",
        "jobs_actual",
        "jobs_estimated",
        "jobs_unpriced",
        "actual_usd",
        "estimated_usd",
        "total_usd",
        "basis",
    ]
    json_rows = env.reader.get("/v1/reports/training-spend", params={"group_by": "team"}).json()[
        "rows"
    ]
    assert [(r[0], r[7], r[8]) for r in rows[1:]] == [
        (r["group"], r["total_usd"], r["basis"]) for r in json_rows
    ]
    by_job = list(
        csv.reader(
            io.StringIO(
                env.reader.get("/v1/reports/training-spend.csv", params={"group_by": "job"}).text
            )
        )
    )
    assert (
        by_job[0][-5:] == ["team", "model", "status", "openai_job_id", "created_at"]
        and len(by_job) == 4
    )


@SQLITE_ONLY
def test_report__bad_parameters_are_422_and_it_needs_a_key(env: JobsEnv) -> None:
    today = datetime.now(UTC).date()
    assert (
        env.reader.get(
            "/v1/reports/training-spend",
            params={"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()},
        ).status_code
        == 422
    )
    assert (
        env.reader.get("/v1/reports/training-spend", params={"group_by": "colour"}).status_code
        == 422
    )
    assert (
        env.reader.get("/v1/reports/training-spend.csv", params={"from": "yesterday"}).status_code
        == 422
    )
    for path in ("/v1/reports/training-spend", "/v1/reports/training-spend.csv"):
        # The last date there is: the range would end on a day that does not exist.
        last = env.reader.get(path, params={"from": "2026-01-01", "to": "9999-12-31"})
        assert last.status_code == 422, last.text
        assert "9999-12-31" in last.json()["detail"]
    assert env.reader.get("/v1/reports/training-spend").json()["rows"] == []
    from tests.service.conftest import client_for

    with client_for(env.app, None) as anon:
        assert anon.get("/v1/reports/training-spend").status_code == 401
