"""GET /metrics: Prometheus text, read back with Prometheus's own parser after real requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from service.auth.service import create_key
from service.db import session_scope
from tests.service.conftest import ADMIN_SECRET, build_app, client_for
from tests.service.observability.scrape import Samples, samples, value
from tests.service.observability.scrape import scrape as scrape_with

TOKEN = "metrics-token-0123456789abcdef0123456789"
SEED = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}


@pytest.fixture
def app(sqlite_url: str, tmp_path) -> FastAPI:
    return build_app(sqlite_url, tmp_path, metrics_token=TOKEN)


@pytest.fixture
def admin(app: FastAPI) -> Iterator[httpx.Client]:
    with client_for(app, ADMIN_SECRET) as client:
        yield client


def scrape(app: FastAPI) -> Samples:
    return scrape_with(app, TOKEN)


def test_metrics__requests_are_counted_by_route_template_and_status(app, admin):
    assert admin.post("/v1/estimates/training", json=SEED).status_code == 201
    assert admin.get("/v1/jobs/job-does-not-exist").status_code == 404
    assert admin.get("/no/such/path/12345").status_code == 404

    scraped = scrape(app)

    assert (
        value(
            scraped,
            "ratecard_http_requests_total",
            method="POST",
            route="/v1/estimates/training",
            status="201",
        )
        == 1
    )
    # The template, not the raw path: an id in the URL never becomes a label value.
    assert (
        value(
            scraped,
            "ratecard_http_requests_total",
            method="GET",
            route="/v1/jobs/{job_id}",
            status="404",
        )
        == 1
    )
    assert (
        value(
            scraped, "ratecard_http_requests_total", method="GET", route="(unmatched)", status="404"
        )
        == 1
    )
    assert not any("job-does-not-exist" in str(key) or "12345" in str(key) for key in scraped)
    assert (
        value(
            scraped,
            "ratecard_http_request_duration_seconds_count",
            method="POST",
            route="/v1/estimates/training",
        )
        == 1
    )
    assert (
        value(
            scraped,
            "ratecard_http_request_duration_seconds_bucket",
            method="POST",
            route="/v1/estimates/training",
            le="+Inf",
        )
        == 1
    )
    assert (
        value(
            scraped,
            "ratecard_http_request_duration_seconds_sum",
            method="POST",
            route="/v1/estimates/training",
        )
        > 0
    )


def test_metrics__estimates_are_counted_by_kind_when_answered(app, admin):
    admin.post("/v1/estimates/training", json=SEED)
    admin.post("/v1/estimates/training", json=SEED)
    workload = {"prompt_tokens": 100, "completion_tokens": 10, "requests_per_day": 10}
    inference = {"model": "gpt-3.5-turbo", "as_of": "2024-03-01", "workload": workload}
    assert admin.post("/v1/estimates/inference", json=inference).status_code == 201
    assert admin.post("/v1/estimates/training", json={"model": "nope"}).status_code == 422

    scraped = scrape(app)

    assert value(scraped, "ratecard_estimates_total", kind="training") == 2
    assert value(scraped, "ratecard_estimates_total", kind="inference") == 1


def test_metrics__usage_events_ingested_and_pool_utilisation(app, admin):
    now = datetime.now(UTC).isoformat()
    event = {
        "model": "gpt-4o-mini",
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "timestamp": now,
    }
    assert admin.put(
        "/v1/usage/limits/gpt-4o-mini", json={"tokens_per_minute": 10_000}
    ).status_code in (200, 201)
    r = admin.post("/v1/usage", json={"events": [event, {**event, "request_id": "a"}]})
    assert r.status_code == 200, r.text
    admin.post("/v1/usage", json={**event, "request_id": "a"})  # a duplicate: not counted

    scraped = scrape(app)

    assert value(scraped, "ratecard_usage_events_ingested_total") == 2
    pool = {"org": "default", "family": "gpt-4o-mini"}
    assert value(scraped, "ratecard_pool_tokens_per_minute", **pool) == 3000
    assert value(scraped, "ratecard_pool_limit_tokens_per_minute", **pool) == 10_000
    assert value(scraped, "ratecard_pool_utilisation_ratio", **pool) == pytest.approx(0.3)


def test_metrics__every_family_is_declared_even_before_it_counts(app):
    families = {
        f.name for f in text_string_to_metric_families(client_for(app, TOKEN).get("/metrics").text)
    }
    assert {
        "ratecard_http_requests",
        "ratecard_http_request_duration_seconds",
        "ratecard_estimates",
        "ratecard_usage_events_ingested",
        "ratecard_watcher_ticks",
        "ratecard_openai_requests",
        "ratecard_alert_deliveries",
        "ratecard_alert_queue_depth",
        "ratecard_imports",
        "ratecard_pool_utilisation_ratio",
    } <= families


def test_metrics__two_apps_in_one_process_count_separately(sqlite_url, tmp_path, app, admin):
    other = build_app(sqlite_url, tmp_path, admin_key=False, metrics="public")
    admin.get("/healthz")
    with client_for(other, None) as anon:
        scraped = samples(anon.get("/metrics").text)
    assert (
        value(scraped, "ratecard_http_requests_total", method="GET", route="/healthz", status="200")
        == 0
    )


def test_metrics__not_in_the_openapi_document(app, admin):
    assert "/metrics" not in admin.get("/openapi.json").json()["paths"]


def test_metrics__key_mode_refuses_anonymous_and_keys_without_read(app, admin):
    with client_for(app, None) as anon:
        refused = anon.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    with session_scope(app.state.engine) as session:
        _, estimate_only = create_key(session, name="est", scopes=["estimate"])
        _, reader = create_key(session, name="reader", scopes=["read"])
    with client_for(app, estimate_only) as client:
        assert client.get("/metrics").status_code == 403
    with client_for(app, reader) as client:
        assert client.get("/metrics").status_code == 200
    with client_for(app, TOKEN[:-1] + "x") as client:
        assert client.get("/metrics").status_code == 401


def test_metrics__public_mode_answers_anyone(sqlite_url, tmp_path):
    app = build_app(sqlite_url, tmp_path, metrics="public")
    with client_for(app, None) as anon:
        assert anon.get("/metrics").status_code == 200


def test_metrics__off_mode_has_no_endpoint(sqlite_url, tmp_path):
    app = build_app(sqlite_url, tmp_path, metrics="off")
    with client_for(app, ADMIN_SECRET) as admin:
        response = admin.get("/metrics")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_metrics__a_short_metrics_token_is_refused_at_start():
    from pydantic import ValidationError

    from service.settings import get_settings

    with pytest.raises(ValidationError):
        get_settings(metrics_token="short")


def test_metrics__routes_below_a_mount_are_labelled_by_mount_and_template(app, admin):
    from fastapi import FastAPI as SubApp

    pages = SubApp()

    @pages.get("/teams/{team}")
    async def team_page(team: str) -> dict[str, str]:
        return {"team": team}

    app.mount("/pages", pages)
    assert admin.get("/pages/teams/ml-platform").status_code == 200
    assert admin.get("/pages/nothing-here").status_code == 404

    scraped = scrape(app)

    assert (
        value(
            scraped,
            "ratecard_http_requests_total",
            method="GET",
            route="/pages/teams/{team}",
            status="200",
        )
        == 1
    )
    assert (
        value(
            scraped,
            "ratecard_http_requests_total",
            method="GET",
            route="/pages/{path}",
            status="404",
        )
        == 1
    )
