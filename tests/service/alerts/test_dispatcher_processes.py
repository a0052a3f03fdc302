"""Exactly once across dispatchers: concurrent replicas on one database, a replica killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from service.alerts.dispatcher import CRASH_AFTER_CLAIM_ENV
from tests.service.alerts.conftest import SLACK_TOKEN, AlertsEnv, job_payload

JOBS = 150


def test_two_dispatchers_on_one_database__deliver_each_alert_once(alerts: AlertsEnv):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    for i in range(JOBS):
        alerts.finish_job(job_payload(id=f"job_{i:04d}", openai_job_id=f"ftjob-{i:04d}"))
    replicas = [alerts.dispatcher(alert_batch_size=10), alerts.dispatcher(alert_batch_size=10)]
    handled = [0, 0]
    errors: list[BaseException] = []
    start = threading.Barrier(len(replicas))

    def run(index: int) -> None:
        try:
            start.wait()
            while n := replicas[index].run_once():
                handled[index] += n
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(replicas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)

    # How the work splits between the two is up to the scheduler (on a busy machine one thread
    # can drain the outbox alone); what must hold is that every alert went out exactly once.
    assert sum(handled) == 2 * JOBS
    webhook_ids = Counter(d.webhook_id for d in alerts.receiver.deliveries)
    assert len(webhook_ids) == JOBS and set(webhook_ids.values()) == {1}
    assert all(d.verified and d.status_code == 200 for d in alerts.receiver.deliveries)
    slack_jobs = Counter(
        m["text"].split()[2] for m in alerts.slack.messages
    )  # "Fine-tuning job ftjob-0001 ..."
    assert len(slack_jobs) == JOBS and set(slack_jobs.values()) == {1}
    rows = alerts.deliveries()
    assert len(rows) == 2 * JOBS
    assert {(r.status, r.attempts) for r in rows} == {("delivered", 1)}


def _dispatcher_process(
    alerts: AlertsEnv, log_path: Path, **extra_env: str
) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RATECARD_")},
        "RATECARD_DATABASE_URL": alerts.settings.database_url,
        "RATECARD_SLACK_API_URL": alerts.settings.slack_api_url,
        "RATECARD_SLACK_BOT_TOKEN": SLACK_TOKEN,
        "RATECARD_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "RATECARD_DISPATCH_INTERVAL_SECONDS": "0.05",
        "RATECARD_ALERT_LEASE_SECONDS": "1",
        **extra_env,
    }
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "service.alerts.dispatcher"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_process_killed_between_commit_and_send__delivers_after_restart_once(
    alerts: AlertsEnv, tmp_path: Path
):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    alerts.finish_job(job_payload())  # the job's state change and its alerts are committed

    # A replica claims the alerts and is SIGKILLed before it sends anything.
    doomed = _dispatcher_process(alerts, tmp_path / "doomed.log", **{CRASH_AFTER_CLAIM_ENV: "1"})
    assert doomed.wait(timeout=60) == -signal.SIGKILL, (tmp_path / "doomed.log").read_text()
    rows = alerts.deliveries()
    assert {(r.status, r.attempts) for r in rows} == {("sending", 1)}
    assert alerts.slack.calls == [] and alerts.receiver.deliveries == []

    # A new replica starts; once the dead one's lease lapses it sends each alert, once.
    survivor = _dispatcher_process(alerts, tmp_path / "survivor.log")
    try:
        deadline = time.monotonic() + 60
        while {r.status for r in alerts.deliveries()} != {"delivered"}:
            assert survivor.poll() is None, (tmp_path / "survivor.log").read_text()
            assert time.monotonic() < deadline, [
                (r.status, r.last_error) for r in alerts.deliveries()
            ]
            time.sleep(0.1)
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=30) == 0, (tmp_path / "survivor.log").read_text()

    assert len(alerts.slack.messages) == 1 and len(alerts.slack.calls) == 1
    (received,) = alerts.receiver.deliveries
    assert received.verified and received.status_code == 200
    rows = {r.destination_type: r for r in alerts.deliveries()}
    assert received.webhook_id == rows["webhook"].webhook_id
    assert {r.attempts for r in rows.values()} == {2}  # the claim that died counts as an attempt
    assert SLACK_TOKEN not in (tmp_path / "survivor.log").read_text()
