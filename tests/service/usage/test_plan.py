"""POST /v1/usage/plan: will a workload fit beside the rest of its family pool?"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.service.usage.support import T0, UsageApi, ev

FT = "ft:gpt-3.5-turbo-0613:acme::new1"


@pytest.fixture
def busy_pool(usage: UsageApi) -> UsageApi:
    """gpt-3.5-turbo limited to 100,000 TPM / 1,000 RPM; the last hour ran 10,000 TPM each minute
    (one request) except one 40,000-TPM spike at 11:30."""
    usage.admin.put(
        "/v1/usage/limits/gpt-3.5-turbo",
        json={"tokens_per_minute": 100_000, "requests_per_minute": 1000},
    )
    start = T0.replace(hour=11, minute=0, second=30)
    usage.post_events(
        *[
            ev(
                "gpt-3.5-turbo-0613",
                40_000 if i == 30 else 10_000,
                0,
                at=start + timedelta(minutes=i),
            )
            for i in range(60)
        ]
    )
    return usage


def plan(usage: UsageApi, **body):
    r = usage.admin.post("/v1/usage/plan", json={"model": FT, **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_plan__fits_beside_the_peak_of_the_rest_of_the_pool(busy_pool: UsageApi):
    body = plan(busy_pool, requests_per_minute=100, tokens_per_request=500)
    assert body["fits"] is True and body["short_by"] is None
    assert body["family"] == "gpt-3.5-turbo" and body["fine_tuned"] is True
    assert body["request"] == {
        "requests_per_minute": 100,
        "tokens_per_request": 500,
        "tokens_per_minute": 50_000,
    }
    assert body["other_traffic"] == {
        "basis": "peak",
        "lookback_minutes": 60,
        "tokens_per_minute": 40_000,
        "requests_per_minute": 1,
        "excluded_model": FT,
    }
    assert body["available"] == {"tokens_per_minute": 60_000, "requests_per_minute": 999}
    assert body["utilisation_after_pct"] == "90.0"
    assert body["above_alert_threshold"] is True
    assert body["summary"].startswith("Fits")


def test_plan__does_not_fit_says_by_how_much_and_what_would(busy_pool: UsageApi):
    body = plan(busy_pool, requests_per_minute=150, tokens_per_request=500)
    assert body["fits"] is False
    assert body["short_by"] == {"tokens_per_minute": 15_000, "requests_per_minute": 0}
    assert body["would_fit"] == {"max_requests_per_minute": 120, "max_tokens_per_request": 400}
    assert "short by 15,000 TPM" in body["summary"]
    assert "at most 120 requests per minute" in body["summary"]


def test_plan__p95_basis_ignores_a_single_spike(busy_pool: UsageApi):
    body = plan(busy_pool, requests_per_minute=150, tokens_per_request=500, basis="p95")
    assert body["other_traffic"]["tokens_per_minute"] == 10_000
    assert body["fits"] is True


def test_plan__shorter_lookback_leaves_the_spike_out(busy_pool: UsageApi):
    body = plan(busy_pool, requests_per_minute=150, tokens_per_request=500, lookback_minutes=20)
    assert body["other_traffic"]["tokens_per_minute"] == 10_000
    assert body["fits"] is True


def test_plan__a_spike_right_now_counts_even_inside_the_current_minute(busy_pool: UsageApi):
    busy_pool.post_events(ev("gpt-3.5-turbo-0125", 70_000, 0))
    body = plan(busy_pool, requests_per_minute=100, tokens_per_request=500, basis="p95")
    # the last 60 s hold 10,000 (11:59:30) + 70,000 of other traffic
    assert body["other_traffic"]["tokens_per_minute"] == 10_000
    peak = plan(busy_pool, requests_per_minute=100, tokens_per_request=500)
    assert peak["other_traffic"]["tokens_per_minute"] == 80_000
    assert peak["fits"] is False


def test_plan__the_planned_models_own_traffic_is_replaced_not_added(busy_pool: UsageApi):
    busy_pool.post_events(ev(FT, 50_000, 0, ago=120))
    body = plan(busy_pool, requests_per_minute=100, tokens_per_request=500)
    assert body["other_traffic"]["tokens_per_minute"] == 40_000
    other = busy_pool.admin.post(
        "/v1/usage/plan",
        json={
            "model": "ft:gpt-3.5-turbo-0613:acme::other",
            "requests_per_minute": 100,
            "tokens_per_request": 500,
        },
    ).json()
    assert other["other_traffic"]["tokens_per_minute"] == 60_000  # 11:58 held 10,000 + 50,000


def test_plan__requests_per_minute_limit_binds_too(busy_pool: UsageApi):
    body = plan(busy_pool, requests_per_minute=2000, tokens_per_request=10)
    assert body["fits"] is False
    assert body["short_by"] == {"tokens_per_minute": 0, "requests_per_minute": 1001}
    assert body["would_fit"]["max_requests_per_minute"] == 999
    assert body["would_fit"]["max_tokens_per_request"] == 0
    assert "1,001 RPM" in body["summary"]


def test_plan__prompt_and_max_tokens_are_counted_by_the_tpm_rule(busy_pool: UsageApi):
    body = plan(
        busy_pool, requests_per_minute=10, prompt_tokens=300, max_tokens=200, completion_tokens=20
    )
    assert body["request"]["tokens_per_request"] == 500
    body = plan(busy_pool, requests_per_minute=10, prompt_tokens=300, completion_tokens=20)
    assert body["request"]["tokens_per_request"] == 320


def test_plan__empty_pool_uses_the_tier_default(usage: UsageApi):
    body = plan(usage, requests_per_minute=100, tokens_per_request=500)
    assert body["limit"]["tokens_source"] == "tier:1"
    assert body["other_traffic"]["tokens_per_minute"] == 0
    assert body["fits"] is True and body["utilisation_after_pct"] == "83.3"


def test_plan__unknown_limit_is_422_with_how_to_fix(usage: UsageApi):
    r = usage.admin.post(
        "/v1/usage/plan",
        json={"model": "gpt-4.1", "requests_per_minute": 1, "tokens_per_request": 1},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "limit_unknown"
    assert "PUT /v1/usage/limits/gpt-4.1" in r.json()["how_to_fix"]


def test_plan__unknown_model_is_422_with_suggestions(usage: UsageApi):
    r = usage.admin.post(
        "/v1/usage/plan",
        json={"model": "gpt-3.5-turbo-9999", "requests_per_minute": 1, "tokens_per_request": 1},
    )
    assert r.status_code == 422
    assert r.json()["suggestions"]


def test_plan__invalid_requests_are_422(usage: UsageApi):
    for body in [
        {"requests_per_minute": 1},
        {"requests_per_minute": 1, "tokens_per_request": 5, "prompt_tokens": 5},
        {"requests_per_minute": 1, "tokens_per_request": 5, "max_tokens": 5},
        {"requests_per_minute": 0, "tokens_per_request": 5},
        {"requests_per_minute": 1.5, "tokens_per_request": 5},
        {"requests_per_minute": 1, "tokens_per_request": 0},
        {"requests_per_minute": 1, "tokens_per_request": -1},
        {"requests_per_minute": 1, "tokens_per_request": 5, "basis": "mean"},
        {"requests_per_minute": 1, "tokens_per_request": 5, "lookback_minutes": 0},
    ]:
        r = usage.admin.post("/v1/usage/plan", json={"model": FT, **body})
        assert r.status_code == 422, (body, r.text)
