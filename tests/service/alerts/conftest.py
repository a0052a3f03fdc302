"""Alerts tests: the loopback fake Slack Web API and webhook receiver, served by real uvicorn.

One server of each per session; every test gets fresh fake state. The dispatcher under test runs
with a manual clock, so backoff and Retry-After are checked by advancing time, never by sleeping.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from service.alerts.dispatcher import AlertDispatcher
from service.alerts.events import publish_event
from service.alerts.models import Delivery, Subscription
from service.app import create_app
from service.auth.service import create_key
from service.db import session_scope
from service.settings import Settings, get_settings
from tests.fakes.slack_api import FakeSlackState, create_fake_slack_app
from tests.fakes.webhook_receiver import FakeWebhookState, create_webhook_receiver_app
from tests.service.conftest import ADMIN_SECRET, client_for

SLACK_TOKEN = "xoxb-test-0123456789-SECRET"


@contextmanager
def serve_in_thread(app: FastAPI, name: str) -> Iterator[str]:
    """Serve an ASGI app on a loopback port in this process; yields its root URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@dataclass
class FakeServer:
    app: FastAPI
    root_url: str


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeServer]:
    app = create_fake_slack_app()
    with serve_in_thread(app, "fake-slack") as url:
        yield FakeServer(app, url)


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[FakeServer]:
    app = create_webhook_receiver_app()
    with serve_in_thread(app, "webhook-receiver") as url:
        yield FakeServer(app, url)


@pytest.fixture
def slack(fake_slack_server: FakeServer) -> FakeSlackState:
    state = FakeSlackState(token=SLACK_TOKEN)
    fake_slack_server.app.state.fake = state
    return state


@pytest.fixture
def receiver(receiver_server: FakeServer) -> FakeWebhookState:
    state = FakeWebhookState()
    receiver_server.app.state.fake = state
    return state


class ManualClock:
    """The dispatcher's scheduling clock; starts at the real time so signatures stay fresh."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class AlertsEnv:
    settings: Settings
    app: FastAPI
    admin: httpx.Client
    clock: ManualClock
    slack: FakeSlackState
    receiver: FakeWebhookState
    receiver_url: str
    _dispatchers: list[AlertDispatcher]

    @property
    def engine(self) -> Engine:
        engine: Engine = self.app.state.engine
        return engine

    def client_with(self, *scopes: str) -> httpx.Client:
        with session_scope(self.engine) as session:
            _, secret = create_key(session, name="key-" + "-".join(scopes), scopes=scopes)
        return client_for(self.app, secret)

    def dispatcher(self, **overrides: Any) -> AlertDispatcher:
        settings = (
            get_settings(**{**self.settings.model_dump(), **overrides})
            if overrides
            else self.settings
        )
        dispatcher = AlertDispatcher(self.engine, settings, clock=self.clock)
        self._dispatchers.append(dispatcher)
        return dispatcher

    def subscribe(
        self, destination: dict[str, Any], follows: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        r = self.admin.post(
            "/v1/subscriptions", json={"destination": destination, "follows": follows, **extra}
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def subscribe_slack(self, channel: str, follows: dict[str, Any]) -> dict[str, Any]:
        return self.subscribe({"type": "slack", "channel": channel}, follows)

    def subscribe_webhook(self, path: str, follows: dict[str, Any]) -> dict[str, Any]:
        """A webhook to the loopback receiver at `path`; the receiver learns its secret."""
        sub = self.subscribe({"type": "webhook", "url": self.receiver_url + path}, follows)
        self.receiver.secrets[path] = sub["webhook_secret"]
        return sub

    def publish(self, kind: str, subject: str, dedupe_key: str, payload: dict[str, Any]) -> int:
        """What a producer does: record the event in its own committed transaction."""
        with session_scope(self.engine) as session:
            event = publish_event(
                session, kind=kind, subject=subject, dedupe_key=dedupe_key, payload=payload
            )
            assert event is not None and event.id is not None
        self.catch_up()
        return event.id

    def catch_up(self) -> None:
        """Alerts are due from the real time they were written; move the manual clock past it."""
        self.clock.now = max(self.clock.now, datetime.now(UTC))

    def finish_job(self, payload: dict[str, Any]) -> int:
        return self.publish(
            "job.finished",
            payload["id"],
            f"job.finished:{payload['id']}:{payload['status']}",
            payload,
        )

    def deliveries(self, **filters: Any) -> list[Delivery]:
        with session_scope(self.engine) as session:
            query = select(Delivery)
            for key, value in filters.items():
                query = query.where(getattr(Delivery, key) == value)
            return list(session.exec(query.order_by(Delivery.id)).all())

    def subscription(self, sub_id: str) -> Subscription:
        with session_scope(self.engine) as session:
            sub = session.get(Subscription, sub_id)
            assert sub is not None
            return sub


def alerts_settings(database_url: str, slack_url: str, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "database_url": database_url,
        "run_watcher": False,
        "run_dispatcher": False,
        "slack_api_url": slack_url + "/api/",
        "slack_bot_token": SLACK_TOKEN,
        "webhook_allowed_networks": "127.0.0.0/8",
        "webhook_timeout_seconds": 5.0,
    }
    options.update(overrides)
    return get_settings(**options)


@pytest.fixture
def alerts(
    database_url: str,
    fake_slack_server: FakeServer,
    receiver_server: FakeServer,
    slack: FakeSlackState,
    receiver: FakeWebhookState,
) -> Iterator[AlertsEnv]:
    settings = alerts_settings(database_url, fake_slack_server.root_url)
    app = create_app(settings, run_background=False)
    with session_scope(app.state.engine) as session:
        create_key(session, name="admin", scopes=["admin"], secret=ADMIN_SECRET)
    env = AlertsEnv(
        settings=settings,
        app=app,
        admin=client_for(app, ADMIN_SECRET),
        clock=ManualClock(),
        slack=slack,
        receiver=receiver,
        receiver_url=receiver_server.root_url,
        _dispatchers=[],
    )
    with env.admin:
        yield env
    for dispatcher in env._dispatchers:
        dispatcher.close()
    app.state.engine.dispose()


def job_payload(**overrides: Any) -> dict[str, Any]:
    """A finished job as the jobs feature publishes it (JobOut as JSON)."""
    payload: dict[str, Any] = {
        "id": "job_01hx7ab3",
        "openai_job_id": "ftjob-abc123",
        "status": "succeeded",
        "model": "gpt-3.5-turbo-0613",
        "requested_model": "gpt-3.5-turbo",
        "team": "ml-platform",
        "launched_by": "slack:U0LAUNCH1",
        "training_file": "file-train1",
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 2},
        "suffix": "support-bot",
        "fine_tuned_model": "ft:gpt-3.5-turbo-0613:acme:support-bot:8AbCdEf",
        "trained_tokens": 315_000,
        "estimate": {"model": "gpt-3.5-turbo-0613", "cost_usd": "2.40", "charged_tokens": 300_000},
        "estimated_cost_usd": "2.40",
        "actual_cost_usd": "2.52",
        "actual_price_version": "2023-08-22",
        "cost_difference_usd": "0.12",
        "error": None,
        "created_at": "2023-09-01T10:00:00Z",
        "finished_at": "2023-09-01T11:02:03Z",
        "duration_seconds": 3723.0,
        "events": [
            {
                "created_at": "2023-09-01T11:02:03Z",
                "level": "info",
                "message": "The job has successfully completed",
            }
        ],
    }
    payload.update(overrides)
    return payload


def tpm_payload(*, state: str, utilisation: str, family: str = "gpt-3.5-turbo") -> dict[str, Any]:
    return {
        "org": "org-acme",
        "family": family,
        "state": state,
        "utilisation_pct": utilisation,
        "threshold_pct": 80,
        "tokens_per_minute": int(float(utilisation) * 10_000),
        "limit_tokens_per_minute": 1_000_000,
        "requests_per_minute": 1_200,
        "limit_requests_per_minute": 10_000,
    }


def drain(dispatcher: AlertDispatcher) -> int:
    """Run rounds until nothing is due at the dispatcher's current time; returns alerts handled."""
    total = 0
    while handled := dispatcher.run_once():
        total += handled
    return total
