"""Jobs OpenAI no longer shows: lost after repeated misses, then closed or forgotten by an admin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from service.alerts.events import Event
from service.db import session_scope
from service.jobs.models import Job
from service.jobs.watcher import JobWatcher
from tests.fakes.fake_openai import FakeOpenAIState
from tests.service.jobs.conftest import (
    OPENAI_KEY,
    SQLITE_ONLY,
    STEP_SECONDS,
    FakeOpenAIServer,
    JobsEnv,
)

RETRIEVE = "GET /v1/fine_tuning/jobs/{job_id}"


def watcher_on_fake_time(env: JobsEnv) -> JobWatcher:
    return env.watcher(clock=lambda: datetime.fromtimestamp(env.clock(), UTC))


def point_at_an_empty_fake(server: FakeOpenAIServer, env: JobsEnv) -> FakeOpenAIState:
    """Another organisation, or OpenAI after a crash: it answers, but knows none of our jobs."""
    original = server.app.state.fake
    empty = FakeOpenAIState(clock=env.clock, step_seconds=STEP_SECONDS, api_key=OPENAI_KEY)
    server.app.state.fake = empty
    return original  # type: ignore[no-any-return]


def ticks(env: JobsEnv, watcher: JobWatcher, n: int, seconds: float = STEP_SECONDS) -> None:
    for _ in range(n):
        env.clock.advance(seconds)
        assert watcher.tick().errors == 0


def missing_checks(env: JobsEnv, job_id: str) -> int:
    with session_scope(env.app.state.engine) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.missing_checks


def alerts_for(env: JobsEnv, job_id: str) -> list[dict[str, Any]]:
    with session_scope(env.app.state.engine) as session:
        events = session.exec(select(Event).where(Event.subject == job_id)).all()
        return [e.payload for e in events]


def launched_then_gone(env: JobsEnv, server: FakeOpenAIServer) -> tuple[dict[str, Any], JobWatcher]:
    env.settings.watch_lost_after_checks = 3
    env.settings.watch_lost_after_seconds = 2 * STEP_SECONDS
    job = env.launch().json()
    watcher = watcher_on_fake_time(env)
    ticks(env, watcher, 1)
    point_at_an_empty_fake(server, env)
    return job, watcher


@SQLITE_ONLY
def test_lost__after_the_set_number_of_misses_the_job_is_lost_alerted_once_and_not_polled(
    env: JobsEnv, fake_openai_server: FakeOpenAIServer
) -> None:
    job, watcher = launched_then_gone(env, fake_openai_server)

    ticks(env, watcher, 2)
    assert env.job(job["id"])["status"] == "queued" and env.job(job["id"])["error"] is None
    ticks(env, watcher, 1)

    lost = env.job(job["id"])
    assert lost["status"] == "lost"
    assert lost["error"]["code"] == "openai_job_missing"
    assert lost["error"]["message"].startswith("OpenAI no longer shows this job (3 checks since ")
    assert any(e["message"].startswith("Lost: ") for e in lost["events"])
    assert [a["status"] for a in alerts_for(env, job["id"])] == ["lost"]
    empty: FakeOpenAIState = fake_openai_server.app.state.fake
    polled = empty.request_counts[RETRIEVE]
    ticks(env, watcher, 3)
    assert empty.request_counts[RETRIEVE] == polled
    assert [a["status"] for a in alerts_for(env, job["id"])] == ["lost"]


@SQLITE_ONLY
def test_lost__misses_need_the_minimum_time_too(
    env: JobsEnv, fake_openai_server: FakeOpenAIServer
) -> None:
    job, watcher = launched_then_gone(env, fake_openai_server)

    ticks(env, watcher, 6, seconds=1)

    assert env.job(job["id"])["status"] == "queued"
    assert missing_checks(env, job["id"]) == 6


@SQLITE_ONLY
def test_lost__the_miss_count_restarts_when_openai_shows_the_job_again(
    env: JobsEnv, fake_openai_server: FakeOpenAIServer
) -> None:
    job, watcher = launched_then_gone(env, fake_openai_server)
    ticks(env, watcher, 2)
    assert missing_checks(env, job["id"]) == 2

    fake_openai_server.app.state.fake = env.fake
    ticks(env, watcher, 1)
    assert missing_checks(env, job["id"]) == 0
    point_at_an_empty_fake(fake_openai_server, env)
    ticks(env, watcher, 2)

    assert env.job(job["id"])["status"] != "lost"


@SQLITE_ONLY
def test_lost__cancel_says_it_is_lost_and_reports_count_no_spend(
    env: JobsEnv, fake_openai_server: FakeOpenAIServer
) -> None:
    job, watcher = launched_then_gone(env, fake_openai_server)
    ticks(env, watcher, 3)

    cancel = env.launcher.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancel.status_code == 409 and cancel.json()["code"] == "job_lost"
    today = datetime.now(UTC).date().isoformat()
    report = env.reader.get(
        "/v1/reports/training-spend", params={"from": today, "to": today, "group_by": "team"}
    ).json()
    assert report["totals"]["jobs"] == 1
    assert report["totals"]["total_usd"] == "0.00"
    assert report["totals"]["jobs_unpriced"] == 1
    budget = env.reader.get("/v1/budgets/ml-platform").json()
    assert budget["spent_usd"] == "0.00"


@SQLITE_ONLY
def test_lost__an_admin_closes_it_with_a_reason_then_forgets_it(
    env: JobsEnv, fake_openai_server: FakeOpenAIServer
) -> None:
    job, watcher = launched_then_gone(env, fake_openai_server)
    close = f"/v1/jobs/{job['id']}/close"
    assert env.admin.post(close, json={"reason": "too early"}).json()["code"] == "job_not_lost"
    assert env.admin.delete(f"/v1/jobs/{job['id']}").status_code == 409
    ticks(env, watcher, 3)

    assert env.launcher.post(close, json={"reason": "old org"}).status_code == 403
    assert env.admin.post(close, json={}).status_code == 422
    closed = env.admin.post(close, json={"reason": "launched against the old org"})

    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["error"]["message"] == "closed by admin: launched against the old org"
    assert env.admin.post(close, json={"reason": "again"}).status_code == 409
    assert env.launcher.delete(f"/v1/jobs/{job['id']}").status_code == 403
    assert env.admin.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert env.reader.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert env.admin.delete(f"/v1/jobs/{job['id']}").status_code == 404


@SQLITE_ONLY
def test_lost__close_and_forget_are_documented_with_their_errors(env: JobsEnv) -> None:
    paths = env.reader.get("/openapi.json").json()["paths"]

    close = paths["/v1/jobs/{job_id}/close"]["post"]
    forget = paths["/v1/jobs/{job_id}"]["delete"]

    assert {"403", "404", "409", "422"} <= set(close["responses"])
    assert {"204", "403", "404", "409"} <= set(forget["responses"])
