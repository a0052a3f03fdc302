"""The watcher: list-based polling, terminal states, restarts, the lease, and a real scheduler."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from service.alerts.events import Event
from service.app import create_app
from service.db import session_scope
from service.jobs.models import Job
from service.jobs.service import LAUNCH_METADATA_KEY
from service.types import utcnow
from tests.service.conftest import client_for
from tests.service.jobs.conftest import (
    SQLITE_ONLY,
    STEP_SECONDS,
    FakeOpenAIServer,
    JobsEnv,
    jobs_settings,
    make_env,
)

LIST = "GET /v1/fine_tuning/jobs"
RETRIEVE = "GET /v1/fine_tuning/jobs/{job_id}"
EVENTS = "GET /v1/fine_tuning/jobs/{job_id}/events"
TINY = (
    "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "a"},
                ]
            }
        )
        for i in range(10)
    )
    + "\n"
)


def create_upstream(env: JobsEnv, n: int, **body: object) -> list[str]:
    """Jobs launched outside ratecard, straight into the fake."""
    file_id = env.fake.add_file("tiny.jsonl", TINY.encode())
    return [
        str(env.fake.create_job({"model": "gpt-3.5-turbo", "training_file": file_id, **body})["id"])
        for _ in range(n)
    ]


def insert_watched(env: JobsEnv, openai_ids: list[str], status: str) -> None:
    """Rows as if each job had been watched already (setup only; 1,000 POSTs would be slow)."""
    with session_scope(env.app.state.engine) as session:
        for n, openai_id in enumerate(openai_ids):
            created = datetime.fromtimestamp(int(env.fake.job(openai_id).created), UTC)
            session.add(
                Job(
                    id=f"job_bulk{n:06d}",
                    openai_job_id=openai_id,
                    source="watch",
                    status=status,
                    launcher="test",
                    requested_model="gpt-3.5-turbo-0125",
                    model="gpt-3.5-turbo-0125",
                    hyperparameters={},
                    created_at=created,
                    openai_created_at=created,
                )
            )


def counts(env: JobsEnv) -> tuple[int, int, int]:
    return env.openai_requests(LIST), env.openai_requests(RETRIEVE), env.openai_requests(EVENTS)


def test_watch__thousand_jobs_cost_ten_list_calls_and_no_retrieves(env: JobsEnv) -> None:
    ids = create_upstream(env, 1000)
    env.advance(1)  # all queued
    insert_watched(env, ids, "queued")
    env.fake.reset_counts()

    report = env.watcher().tick()

    assert report.watched == 1000 and report.errors == 0
    assert counts(env) == (10, 0, 0)
    assert (report.list_calls, report.retrieve_calls, report.event_calls) == (10, 0, 0)


def test_watch__status_changes_fetch_events_within_the_per_tick_cap(env: JobsEnv) -> None:
    env.settings.watch_events_per_tick = 7
    ids = create_upstream(env, 20)
    insert_watched(env, ids, "validating_files")
    env.advance(1)
    env.fake.reset_counts()

    watcher = env.watcher()
    first = watcher.tick()
    second = watcher.tick()

    assert (first.list_calls, first.event_calls, first.updated) == (1, 7, 20)
    assert second.event_calls == 7  # the rest are still owed their events, oldest first
    assert counts(env) == (2, 0, 14)


@SQLITE_ONLY
def test_watch__only_jobs_the_list_does_not_cover_are_retrieved(env: JobsEnv) -> None:
    [old] = create_upstream(env, 1)
    insert_watched(env, [old], "validating_files")
    env.clock.advance(1)
    create_upstream(env, 250)  # newer jobs of other teams fill the first pages
    env.fake.reset_counts()

    report = env.watcher().tick()

    assert counts(env)[:2] == (1, 1)  # one page proved it was not among the newest; one retrieve
    assert report.updated == 0


def test_watch__external_job_by_id_until_done(env: JobsEnv) -> None:
    [openai_id] = create_upstream(env, 1)

    response = env.launcher.post(
        "/v1/jobs/watch", json={"openai_job_id": openai_id, "team": "research"}
    )

    assert response.status_code == 201, response.text
    job = response.json()
    assert (job["source"], job["status"], job["team"], job["estimate"]) == (
        "watch",
        "validating_files",
        "research",
        None,
    )
    assert (
        env.launcher.post("/v1/jobs/watch", json={"openai_job_id": openai_id}).json()["id"]
        == job["id"]
    )
    assert env.reader.get(f"/v1/jobs/{openai_id}").json()["id"] == job["id"]
    watcher = env.watcher()
    for _ in range(3):
        env.advance()
        watcher.tick()
    done = env.job(job["id"])
    assert done["status"] == "succeeded"
    assert done["actual_cost_usd"] is not None and done["cost_difference_usd"] is None
    assert done["trained_tokens"] == env.fake.job(openai_id).trained_tokens


@SQLITE_ONLY
def test_watch__unknown_openai_job_is_404(env: JobsEnv) -> None:
    response = env.launcher.post("/v1/jobs/watch", json={"openai_job_id": "ftjob-nope"})

    assert response.status_code == 404 and response.json()["code"] == "openai_job_not_found"


@SQLITE_ONLY
def test_watch__unknown_status_is_recorded_but_never_treated_as_finished(env: JobsEnv) -> None:
    job = env.launch().json()
    watcher = env.watcher()
    env.advance(2)
    watcher.tick()
    env.fake.job(job["openai_job_id"]).status = "paused"

    watcher.tick()

    paused = env.job(job["id"])
    assert paused["status"] == "paused" and paused["finished_at"] is None
    assert any("'paused'" in e["message"] and e["level"] == "warning" for e in paused["events"])
    env.fake.job(job["openai_job_id"]).status = "running"
    env.advance()
    assert watcher.tick().watched == 1  # still watched
    assert env.job(job["id"])["status"] == "succeeded"


@SQLITE_ONLY
def test_watch__malformed_response_is_logged_and_skipped(
    env: JobsEnv, caplog: pytest.LogCaptureFixture
) -> None:
    job = env.launch().json()
    watcher = env.watcher()
    env.advance(3)
    env.fake.inject_fault("malformed", path="/v1/fine_tuning/jobs", method="GET")

    broken = watcher.tick()

    assert broken.errors == 1 and broken.retrieve_calls == 0
    assert "listing jobs failed" in caplog.text
    assert env.job(job["id"])["status"] == "validating_files"
    assert watcher.tick().finished == 1
    assert env.job(job["id"])["status"] == "succeeded"


def test_watch__service_restarted_mid_job_notices_the_finish(
    env: JobsEnv, fake_openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    job = env.launch().json()
    env.advance(2)
    env.watcher().tick()
    assert env.job(job["id"])["status"] == "running"
    env.watcher().stop()  # the service goes down (a crash is the lease tests' business)...
    env.app.state.engine.dispose()
    env.advance(5)  # ...and the job finishes while nothing watches

    app = create_app(
        jobs_settings(env.settings.database_url, fake_openai_server.base_url, tmp_path),
        run_background=False,
    )
    restarted = make_env(app, env.settings, env.fake, env.clock)
    with restarted.reader:
        report = restarted.watcher().tick()
        assert report.finished == 1
        done = restarted.job(job["id"])
    assert done["status"] == "succeeded" and done["actual_cost_usd"] == done["estimated_cost_usd"]
    restarted.watchers[0].stop()
    app.state.engine.dispose()


def test_watch__finish_is_published_once_however_often_it_is_seen(env: JobsEnv) -> None:
    job = env.launch().json()
    watcher = env.watcher()
    env.advance(3)
    for _ in range(3):
        watcher.tick()
    with session_scope(env.app.state.engine) as session:
        keys = session.exec(select(Event.dedupe_key).where(Event.subject == job["id"])).all()
    assert keys == [f"job.finished:{job['id']}:succeeded"]


def test_watch__stalled_launch_is_reconciled_by_its_launch_id(env: JobsEnv) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    with session_scope(env.app.state.engine) as session:
        for job_id in ("job_crashedaftercreate", "job_crashedbeforecreate"):
            session.add(
                Job(
                    id=job_id,
                    source="launch",
                    status="launching",
                    team="ml-platform",
                    launcher="bot",
                    requested_model="gpt-3.5-turbo",
                    model="gpt-3.5-turbo-0125",
                    hyperparameters={},
                    created_at=long_ago,
                    updated_at=long_ago,
                )
            )
    [openai_id] = create_upstream(env, 1, metadata={LAUNCH_METADATA_KEY: "job_crashedaftercreate"})

    env.watcher().tick()

    assert env.job("job_crashedaftercreate")["openai_job_id"] == openai_id
    assert env.job("job_crashedbeforecreate")["status"] == "launch_unknown"


def test_list_jobs__filters_and_pages_newest_first(env: JobsEnv) -> None:
    ids = [env.launch(team=team).json()["id"] for team in ("a", "b", "a")]

    page = env.reader.get("/v1/jobs", params={"limit": 2}).json()
    rest = env.reader.get("/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}).json()

    assert [j["id"] for j in page["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    assert [j["id"] for j in env.reader.get("/v1/jobs", params={"team": "a"}).json()["items"]] == [
        ids[2],
        ids[0],
    ]
    assert env.reader.get("/v1/jobs", params={"cursor": "job_nope"}).status_code == 422
    assert env.reader.get("/v1/jobs/job_nope").status_code == 404


# ------------------------------------------------------------------------------------- lease


def movable_clock() -> tuple[Callable[[], datetime], Callable[[float], None]]:
    now = [utcnow()]

    def advance(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    return (lambda: now[0]), advance


def test_lease__two_watchers_on_one_database_never_both_poll(env: JobsEnv) -> None:
    env.launch()
    clock, advance = movable_clock()
    a, b = (
        env.watcher(holder="replica-a", clock=clock),
        env.watcher(holder="replica-b", clock=clock),
    )

    assert a.tick().lease_held
    before = sum(counts(env))
    for _ in range(3):
        assert not b.tick().lease_held
        assert a.tick().lease_held
    assert not b.tick().lease_held
    polled_by_a = sum(counts(env)) - before

    advance(env.settings.watcher_lease_seconds + 1)  # a crashed: it stopped renewing
    assert b.tick().lease_held
    assert not a.tick().lease_held  # back from the dead, a must not poll
    assert sum(counts(env)) - before == polled_by_a + 1  # b's one list call


def test_lease__a_stopping_watcher_hands_over_at_once(env: JobsEnv) -> None:
    a, b = env.watcher(holder="replica-a"), env.watcher(holder="replica-b")
    assert a.tick().lease_held and not b.tick().lease_held

    a.stop()

    assert b.tick().lease_held


# -------------------------------------------------------------------------- real scheduler


def test_scheduler__watcher_running_in_the_app_finishes_a_job(
    database_url: str,
    fake_openai_server: FakeOpenAIServer,
    fake: object,
    clock: object,
    tmp_path: Path,
) -> None:
    settings = jobs_settings(
        database_url,
        fake_openai_server.base_url,
        tmp_path,
        run_watcher=True,
        watch_interval_seconds=0.1,
        watcher_lease_seconds=10,
    )
    app = create_app(settings, run_background=True)
    env = make_env(app, settings, fake, clock)  # type: ignore[arg-type]
    with client_for(app, None) as lifespan, env.launcher:
        assert lifespan.get("/healthz").status_code == 200
        job = env.launch().json()
        env.advance(3)
        deadline = time.monotonic() + 30
        while env.job(job["id"])["status"] != "succeeded":
            assert time.monotonic() < deadline, env.job(job["id"])
            time.sleep(0.05)
    assert app.state.job_watcher._scheduler is None  # the lifespan stopped it
    app.state.engine.dispose()
    assert STEP_SECONDS
