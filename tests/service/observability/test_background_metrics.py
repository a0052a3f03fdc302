"""Watcher ticks, OpenAI requests and alert deliveries, counted by outcome."""

from __future__ import annotations

import time
from typing import Any

from service.app import create_app
from service.observability.background import observe_background
from tests.service.alerts.conftest import AlertsEnv, drain, job_payload
from tests.service.conftest import ADMIN_SECRET
from tests.service.jobs.conftest import SQLITE_ONLY, JobsEnv, jobs_settings, make_env
from tests.service.observability.scrape import scrape, total, value

pytestmark = SQLITE_ONLY


def test_metrics__a_launch_counts_its_openai_requests(env: JobsEnv) -> None:
    response = env.launch()
    assert response.status_code == 201, response.text

    scraped = scrape(env.app)

    assert value(scraped, "ratecard_openai_requests_total", method="POST", outcome="success") >= 1
    assert total(scraped, "ratecard_openai_requests_total", outcome="server_error") == 0


def test_metrics__watcher_ticks_and_their_openai_requests_by_outcome(env: JobsEnv) -> None:
    assert env.launch().status_code == 201
    before = total(scrape(env.app), "ratecard_openai_requests_total", method="GET")
    watcher = env.watcher()
    observe_background(watcher, env.app.state.metrics)
    other = env.watcher(holder="replica-b")
    observe_background(other, env.app.state.metrics)

    env.advance()
    watcher.tick()
    other.tick()  # the lease is the first watcher's

    scraped = scrape(env.app)
    assert value(scraped, "ratecard_watcher_ticks_total", outcome="polled") == 1
    assert value(scraped, "ratecard_watcher_ticks_total", outcome="standby") == 1
    gets = total(scraped, "ratecard_openai_requests_total", method="GET", outcome="success")
    assert gets > before


def test_metrics__openai_errors_are_counted_by_outcome(env: JobsEnv) -> None:
    response = env.launcher.post("/v1/jobs/watch", json={"openai_job_id": "ftjob-nope"})
    assert response.status_code == 404

    scraped = scrape(env.app)

    assert (
        value(scraped, "ratecard_openai_requests_total", method="GET", outcome="client_error") == 1
    )


def test_metrics__the_watcher_serve_runs_is_counted(
    database_url: str, fake_openai_server: Any, fake: Any, clock: Any, tmp_path: Any
) -> None:
    settings = jobs_settings(database_url, fake_openai_server.base_url, tmp_path, run_watcher=True)
    app = create_app(settings, run_background=True)
    jobs_env = make_env(app, settings, fake, clock)
    with jobs_env.admin:  # starts the app's background services, the watcher ticks at once
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            scraped = scrape(app, ADMIN_SECRET)
            if total(scraped, "ratecard_watcher_ticks_total"):
                break
            time.sleep(0.05)
    app.state.engine.dispose()
    assert value(scraped, "ratecard_watcher_ticks_total", outcome="idle") >= 1


def test_metrics__alert_deliveries_by_outcome_and_the_queue_depth(alerts: AlertsEnv) -> None:
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    alerts.finish_job(job_payload())
    queued = scrape(alerts.app)
    assert value(queued, "ratecard_alert_queue_depth", status="pending") == 2

    dispatcher = alerts.dispatcher()
    observe_background(dispatcher, alerts.app.state.metrics)
    assert drain(dispatcher) == 2

    scraped = scrape(alerts.app)
    assert value(scraped, "ratecard_alert_deliveries_total", outcome="delivered") == 2
    assert value(scraped, "ratecard_alert_queue_depth", status="pending") == 0
