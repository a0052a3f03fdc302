"""compose.yaml's metrics profile: Prometheus scrapes every API replica, with the metrics token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from service.observability.address import parse_address
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return loaded


def test_compose__prometheus_runs_only_in_the_metrics_profile():
    services = load("compose.yaml")["services"]
    assert services["prometheus"]["profiles"] == ["metrics"]
    assert str(services["prometheus"]["image"]).startswith("prom/prometheus:v")
    assert all("profiles" not in s for name, s in services.items() if name != "prometheus")


def test_compose__prometheus_scrapes_each_api_replica_by_its_compose_name():
    compose = load("compose.yaml")
    api = compose["services"]["api"]
    replicas = int(api["deploy"]["replicas"])
    container_port = int(str(api["ports"][0]).rsplit(":", 1)[1])
    expected = {f"{compose['name']}-api-{n}:{container_port}" for n in range(1, replicas + 1)}

    [job] = [j for j in load("prometheus.yml")["scrape_configs"] if j["job_name"] == "ratecard-api"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}

    assert targets == expected
    assert job["metrics_path"] == "/metrics"
    assert container_port == Settings.model_fields["port"].default


def test_compose__prometheus_authenticates_with_the_token_the_replicas_accept():
    compose = load("compose.yaml")
    jobs = load("prometheus.yml")["scrape_configs"]
    secret = compose["services"]["prometheus"]["secrets"][0]
    assert {job["job_name"] for job in jobs} == {"ratecard-api", "ratecard-watcher"}
    for job in jobs:
        assert job["authorization"]["credentials_file"] == f"/run/secrets/{secret}"
    assert compose["secrets"][secret]["environment"] == "RATECARD_METRICS_TOKEN"
    api_env = compose["services"]["api"]["environment"]
    assert api_env["RATECARD_METRICS_TOKEN"] == "${RATECARD_METRICS_TOKEN:-}"
    # The default mode asks for a key or the token: the replicas are not open to anyone.
    assert "RATECARD_METRICS" not in api_env
    assert Settings.model_fields["metrics"].default == "key"


def test_compose__prometheus_scrapes_the_watcher_on_its_metrics_address():
    compose = load("compose.yaml")
    watcher = compose["services"]["watcher"]
    host, port = parse_address(watcher["environment"]["RATECARD_WATCHER_METRICS_ADDRESS"])

    [job] = [
        j for j in load("prometheus.yml")["scrape_configs"] if j["job_name"] == "ratecard-watcher"
    ]
    targets = {t for group in job["static_configs"] for t in group["targets"]}

    assert targets == {f"{compose['name']}-watcher-1:{port}"}
    assert job["metrics_path"] == "/metrics"
    assert host == "0.0.0.0"  # reachable from Prometheus' container...
    assert "ports" not in watcher  # ...but not published on the host
    assert "RATECARD_METRICS" not in watcher["environment"]  # the token's `key` mode


def test_compose__an_unset_metrics_token_starts_the_service_without_one():
    assert Settings(metrics_token="").metrics_token is None  # type: ignore[arg-type]
