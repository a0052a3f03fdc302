"""`ratecard watcher`'s own /metrics: off by default, guarded like the service's, scraped over
real HTTP on a loopback port and read with Prometheus' text parser."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from service.auth.service import create_key, revoke_key
from service.db import session_scope
from service.jobs.watcher import JobWatcher
from service.observability.background import observe_watcher
from service.observability.metrics import Metrics
from service.observability.watcher_endpoint import MetricsServer, start_watcher_metrics
from service.settings import Settings
from tests.netutil import free_port
from tests.service.conftest import ADMIN_SECRET
from tests.service.jobs.conftest import OPENAI_KEY, SQLITE_ONLY, JobsEnv
from tests.service.observability.scrape import Samples, samples, total, value

TOKEN = "prometheus-only-token-0123456789abcdef"


def settings_of(env: JobsEnv, **overrides: Any) -> Settings:
    given = {"watcher_metrics_address": "127.0.0.1:0", "metrics_token": TOKEN, **overrides}
    return Settings(**{**env.settings.model_dump(), **given})


@pytest.fixture
def watcher_process(env: JobsEnv) -> Iterator[tuple[JobWatcher, Metrics, MetricsServer]]:
    """What run_watcher builds: the watcher, its metrics and their endpoint on a free port."""
    settings = settings_of(env)
    watcher = JobWatcher(engine=env.app.state.engine, settings=settings)
    metrics = Metrics()
    observe_watcher(watcher, metrics)
    server = start_watcher_metrics(metrics, env.app.state.engine, settings)
    assert server is not None
    yield watcher, metrics, server
    server.stop()


def url(server: MetricsServer) -> str:
    return f"http://{server.host}:{server.port}/metrics"


def scrape(server: MetricsServer, secret: str | None = TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    response = httpx.get(url(server), headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


@SQLITE_ONLY
def test_watcher_metrics__ticks_and_openai_requests_are_scraped(
    env: JobsEnv, watcher_process: tuple[JobWatcher, Metrics, MetricsServer]
) -> None:
    watcher, _, server = watcher_process
    assert total(scrape(server), "ratecard_watcher_ticks_total") == 0
    assert env.launch().status_code == 201

    env.advance()
    watcher.tick()
    watcher.tick()

    scraped = scrape(server)
    assert value(scraped, "ratecard_watcher_ticks_total", outcome="polled") == 2
    assert value(scraped, "ratecard_openai_requests_total", method="GET", outcome="success") >= 2
    # The launch went through the API process: not this one's to count.
    assert total(scraped, "ratecard_openai_requests_total", method="POST") == 0


@SQLITE_ONLY
def test_watcher_metrics__key_mode_needs_the_token_or_a_read_key(
    env: JobsEnv, watcher_process: tuple[JobWatcher, Metrics, MetricsServer]
) -> None:
    _, _, server = watcher_process

    anonymous = httpx.get(url(server), timeout=5)
    wrong = httpx.get(url(server), headers={"Authorization": "Bearer nope"}, timeout=5)

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert wrong.status_code == 401
    assert "ratecard_watcher_ticks_total" not in anonymous.text
    scrape(server, ADMIN_SECRET)  # an API key with the read scope, checked in the database
    assert httpx.get(url(server).replace("/metrics", "/docs"), timeout=5).status_code == 404


def test_watcher_metrics__a_read_key_revoked_elsewhere_is_refused_at_once(
    env: JobsEnv, watcher_process: tuple[JobWatcher, Metrics, MetricsServer]
) -> None:
    _, _, server = watcher_process
    engine = env.app.state.engine
    with session_scope(engine) as session:
        key, secret = create_key(session, name="grafana", scopes=["read"])
    scrape(server, secret)  # known to the watcher's key cache from now on

    # Revoked by a service replica: the watcher itself never revokes keys, so only the
    # database can tell it.
    with session_scope(engine) as session:
        revoke_key(session, key_id=key.id)
    refused = httpx.get(url(server), headers={"Authorization": f"Bearer {secret}"}, timeout=5)

    assert refused.status_code == 401
    assert "ratecard_watcher_ticks_total" not in refused.text


@SQLITE_ONLY
def test_watcher_metrics__public_mode_answers_anyone(env: JobsEnv) -> None:
    settings = settings_of(env, metrics="public", metrics_token=None)
    server = start_watcher_metrics(Metrics(), env.app.state.engine, settings)
    assert server is not None
    try:
        scraped = scrape(server, None)
    finally:
        server.stop()
    assert ("ratecard_watcher_ticks_total", frozenset()) not in scraped  # no tick yet, no sample
    assert server.host == "127.0.0.1" and server.port > 0


@SQLITE_ONLY
def test_watcher_metrics__off_unless_an_address_is_set_and_metrics_are_on(env: JobsEnv) -> None:
    assert Settings.model_fields["watcher_metrics_address"].default is None
    engine = env.app.state.engine
    assert start_watcher_metrics(Metrics(), engine, env.settings) is None
    assert start_watcher_metrics(Metrics(), engine, settings_of(env, metrics="off")) is None


@pytest.mark.parametrize(
    "address", ["9101", "localhost", ":9101", "::1:9101", "127.0.0.1:99999", "127.0.0.1:http"]
)
def test_watcher_metrics__a_bad_address_is_refused_at_start(address: str) -> None:
    with pytest.raises(ValidationError, match="watcher_metrics_address"):
        Settings(watcher_metrics_address=address)


def test_watcher_metrics__addresses_operators_write_are_accepted() -> None:
    for address in ("127.0.0.1:9101", "0.0.0.0:9101", "[::1]:9101", "localhost:9101", ""):
        Settings(watcher_metrics_address=address)
    assert Settings(watcher_metrics_address="").watcher_metrics_address is None


@SQLITE_ONLY
@pytest.mark.slow
def test_watcher_process__serves_metrics_until_sigterm(
    env: JobsEnv, fake_openai_server: Any, tmp_path: Path
) -> None:
    """`ratecard watcher` as compose runs it: its ticks scraped from another process."""
    port = free_port()
    process_env = {
        **os.environ,
        "RATECARD_DATABASE_URL": str(env.app.state.engine.url),
        "RATECARD_OPENAI_API_KEY": OPENAI_KEY,
        "RATECARD_OPENAI_BASE_URL": fake_openai_server.base_url,
        "RATECARD_WATCH_INTERVAL_SECONDS": "0.2",
        "RATECARD_WATCHER_METRICS_ADDRESS": f"127.0.0.1:{port}",
        "RATECARD_METRICS_TOKEN": TOKEN,
    }
    log_path = tmp_path / "watcher.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "watcher"],
            env=process_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        ticks = 0.0
        while time.monotonic() < deadline and ticks < 2:
            assert proc.poll() is None, log_path.read_text()
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/metrics",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=1,
                )
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            assert response.status_code == 200, response.text
            ticks = total(samples(response.text), "ratecard_watcher_ticks_total")
            time.sleep(0.1)
        assert ticks >= 2, log_path.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log_path.read_text()
