"""Alerts end to end: `ratecard serve` in its own process, a fake Slack API, a webhook receiver.

The job watcher's part is played by the test: it commits a job.finished event with
publish_event, exactly as the jobs feature does; everything after that is the running service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.alerts.events import publish_event
from service.db import create_db_engine, session_scope
from tests.fakes.slack_api import FakeSlackState, create_fake_slack_app
from tests.fakes.webhook_receiver import FakeWebhookState, create_webhook_receiver_app
from tests.netutil import free_port
from tests.service.alerts.conftest import job_payload, serve_in_thread

pytestmark = pytest.mark.slow

ADMIN_KEY = "rc_1da685db80cb1b02e7699dfc8d570d17f045cd60b7a4a099acfa58dec98ec265"
SLACK_TOKEN = "xoxb-e2e-token-SECRET"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlackState, str, FakeWebhookState, str]]:
    slack, receiver = FakeSlackState(token=SLACK_TOKEN), FakeWebhookState()
    with (
        serve_in_thread(create_fake_slack_app(slack), "e2e-slack") as slack_url,
        serve_in_thread(create_webhook_receiver_app(receiver), "e2e-receiver") as receiver_url,
    ):
        yield slack, slack_url, receiver, receiver_url


def test_serve__job_finished_reaches_slack_and_a_signed_webhook_once(
    database_url: str, tmp_path: Path, fakes
):
    slack, slack_url, receiver, receiver_url = fakes
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RATECARD_")},
        "RATECARD_DATABASE_URL": database_url,
        "RATECARD_PORT": str(port),
        "RATECARD_SERVICE_URL": f"http://127.0.0.1:{port}",
        "RATECARD_ADMIN_API_KEY": ADMIN_KEY,
        "RATECARD_RUN_WATCHER": "false",
        "RATECARD_SLACK_API_URL": slack_url + "/api/",
        "RATECARD_SLACK_BOT_TOKEN": SLACK_TOKEN,
        "RATECARD_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "RATECARD_DISPATCH_INTERVAL_SECONDS": "0.1",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "serve did not come up"
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)

        r = client.post(
            "/v1/subscriptions",
            json={
                "destination": {"type": "slack", "channel": "C0MLPLAT"},
                "follows": {"type": "team", "team": "ml-platform"},
            },
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/v1/subscriptions",
            json={
                "destination": {"type": "webhook", "url": receiver_url + "/fin"},
                "follows": {"type": "all_jobs"},
            },
        )
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["webhook_secret"]
        # The running service refuses to call itself.
        r = client.post(
            "/v1/subscriptions",
            json={
                "destination": {"type": "webhook", "url": base + "/v1/keys"},
                "follows": {"type": "all_jobs"},
            },
        )
        assert r.status_code == 422 and r.json()["code"] == "forbidden_webhook_url"

        engine = create_db_engine(database_url)
        with session_scope(engine) as session:
            publish_event(
                session,
                kind="job.finished",
                subject="job_01hx7ab3",
                dedupe_key="job.finished:job_01hx7ab3:succeeded",
                payload=job_payload(),
            )
        engine.dispose()

        deadline = time.monotonic() + 30
        while True:
            alerts = client.get("/v1/alerts").json()["items"]
            if len(alerts) == 2 and {a["status"] for a in alerts} == {"delivered"}:
                break
            assert time.monotonic() < deadline, alerts
            time.sleep(0.1)
        time.sleep(0.5)  # a few more dispatcher rounds: nothing may be sent twice
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        client.close()

    (message,) = slack.messages
    assert message["channel"] == "C0MLPLAT"
    assert "ft:gpt-3.5-turbo-0613:acme:support-bot:8AbCdEf" in message["text"]
    assert "$2.52" in message["text"] and "$2.40" in message["text"]
    (webhook,) = receiver.deliveries
    assert webhook.verified and webhook.json["data"]["actual_cost_usd"] == "2.52"
    assert {a["webhook_id"] for a in alerts if a["destination"]["type"] == "webhook"} == {
        webhook.webhook_id
    }
    server_log = log_path.read_text()
    assert SLACK_TOKEN not in server_log and ADMIN_KEY not in server_log
