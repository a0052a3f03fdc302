"""Limits per organisation and family: tier default, learned from headers, set by an admin."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pricing.ratelimits import load_tier_table, parse_tier_table
from service.app import create_app
from service.settings import get_settings
from service.usage.router import current_time
from tests.service.conftest import ADMIN_SECRET, client_for
from tests.service.usage.support import T0, UsageApi

HEADERS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "2000000",
    "x-ratelimit-remaining-requests": "9990",
    "x-ratelimit-remaining-tokens": "1995000",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-reset-tokens": "1m30s",
}


def test_tiers__table_ships_defaults_for_the_main_families():
    table = load_tier_table()
    assert table.default_tier == "1"
    tier1 = table.limit("gpt-3.5-turbo")
    assert tier1 is not None and (tier1.requests_per_minute, tier1.tokens_per_minute) == (
        3500,
        60000,
    )
    assert table.limit("gpt-4.1") is None  # the snapshot is silent: unknown, not guessed
    with pytest.raises(KeyError):
        table.limit("gpt-4o", "7")


def test_tiers__default_tier_must_exist():
    with pytest.raises(ValueError):
        parse_tier_table(
            'default_tier = "9"\n[tiers.1]\n'
            '"gpt-4" = { requests_per_minute = 1, tokens_per_minute = 2 }\n'
        )


def test_limits__tier_default_applies_until_set_or_learned(usage: UsageApi):
    body = usage.admin.get("/v1/usage/limits/gpt-3.5-turbo").json()
    assert (body["tokens_per_minute"], body["requests_per_minute"]) == (60000, 3500)
    assert (body["tokens_source"], body["requests_source"]) == ("tier:1", "tier:1")
    assert body["tier_default"] == {
        "tier": "1",
        "tokens_per_minute": 60000,
        "requests_per_minute": 3500,
    }
    assert body["configured"] is None and body["learned"] is None and body["observed"] is None


def test_limits__default_tier_is_a_setting(database_url, tmp_path):
    app = create_app(
        get_settings(database_url=database_url, usage_tier="3", run_watcher=False),
        run_background=False,
    )
    from service.auth.service import create_key
    from service.db import session_scope

    with session_scope(app.state.engine) as session:
        create_key(session, name="admin", scopes=["admin"], secret=ADMIN_SECRET)
    with client_for(app, ADMIN_SECRET) as admin:
        body = admin.get("/v1/usage/limits/gpt-4o-mini").json()
        assert (body["tokens_per_minute"], body["tokens_source"]) == (4_000_000, "tier:3")
        assert admin.get("/v1/usage/limits").json()["tier"] == "3"


def test_limits__bad_tier_setting_is_refused_at_startup():
    with pytest.raises(ValueError):
        get_settings(usage_tier="6")


def test_limits__learned_from_headers_any_case_for_the_whole_family(usage: UsageApi):
    mixed = {k.upper(): v for k, v in HEADERS.items()} | {"Content-Type": "application/json"}
    r = usage.admin.post(
        "/v1/usage/ratelimit", json={"model": "ft:gpt-3.5-turbo-0613:acme::abc", "headers": mixed}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["family"] == "gpt-3.5-turbo"
    assert (body["tokens_per_minute"], body["tokens_source"]) == (2_000_000, "headers")
    assert (body["requests_per_minute"], body["requests_source"]) == (10000, "headers")
    assert body["learned"]["model"] == "ft:gpt-3.5-turbo-0613:acme::abc"
    observed = body["observed"]
    assert (observed["remaining_tokens"], observed["remaining_requests"]) == (1995000, 9990)
    assert observed["tokens_reset_at"] == (T0 + timedelta(seconds=90)).isoformat().replace(
        "+00:00", "Z"
    )
    assert observed["requests_reset_at"] == (T0 + timedelta(milliseconds=6)).isoformat().replace(
        "+00:00", "Z"
    )
    # the pool reads the learned limit
    assert usage.pool("gpt-3.5-turbo")["limit"]["tokens_per_minute"] == 2_000_000


def test_limits__older_header_observation_does_not_overwrite_a_newer_one(usage: UsageApi):
    usage.admin.post("/v1/usage/ratelimit", json={"model": "gpt-4o", "headers": HEADERS})
    stale = {**HEADERS, "x-ratelimit-limit-tokens": "30000"}
    r = usage.admin.post(
        "/v1/usage/ratelimit",
        json={
            "model": "gpt-4o",
            "headers": stale,
            "observed_at": (T0 - timedelta(seconds=30)).isoformat(),
        },
    )
    assert r.status_code == 200
    assert r.json()["tokens_per_minute"] == 2_000_000


def test_limits__partial_headers_keep_what_was_learned(usage: UsageApi):
    usage.admin.post("/v1/usage/ratelimit", json={"model": "gpt-4o", "headers": HEADERS})
    usage.clock.advance(seconds=5)
    r = usage.admin.post(
        "/v1/usage/ratelimit",
        json={
            "model": "gpt-4o",
            "headers": {"x-ratelimit-remaining-tokens": 5, "x-ratelimit-reset-tokens": "1s"},
        },
    )
    body = r.json()
    assert (body["tokens_per_minute"], body["requests_per_minute"]) == (2_000_000, 10000)
    assert body["observed"]["remaining_tokens"] == 5
    assert body["observed"]["remaining_requests"] is None


def test_limits__unreadable_headers_are_422_and_learn_nothing(usage: UsageApi):
    for headers, code in [
        ({"content-type": "text/plain"}, "no_ratelimit_headers"),
        ({"x-ratelimit-reset-tokens": "later", "x-ratelimit-limit-tokens": "5"}, "bad_header"),
        ({"x-ratelimit-limit-tokens": "9.5"}, "bad_header"),
    ]:
        r = usage.admin.post("/v1/usage/ratelimit", json={"model": "gpt-4o", "headers": headers})
        assert r.status_code == 422
        assert r.json()["code"] == code
    assert usage.admin.get("/v1/usage/limits/gpt-4o").json()["tokens_source"] == "tier:1"


def test_limits__ratelimit_for_unknown_model_is_422_with_suggestions(usage: UsageApi):
    r = usage.admin.post("/v1/usage/ratelimit", json={"model": "gpt4o", "headers": HEADERS})
    assert r.status_code == 422
    assert "gpt-4o" in r.json()["suggestions"]


def test_limits__configured_wins_over_learned_and_tier_then_can_be_dropped(usage: UsageApi):
    usage.admin.post("/v1/usage/ratelimit", json={"model": "gpt-3.5-turbo", "headers": HEADERS})
    r = usage.admin.put("/v1/usage/limits/gpt-3.5-turbo", json={"tokens_per_minute": 500_000})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["tokens_per_minute"], body["tokens_source"]) == (500_000, "configured")
    # only TPM was configured: RPM still comes from the headers
    assert (body["requests_per_minute"], body["requests_source"]) == (10000, "headers")
    assert body["configured"]["by"] == "admin"
    dropped = usage.admin.delete("/v1/usage/limits/gpt-3.5-turbo").json()
    assert (dropped["tokens_per_minute"], dropped["tokens_source"]) == (2_000_000, "headers")


def test_limits__path_takes_any_model_name_of_the_family(usage: UsageApi):
    r = usage.admin.put(
        "/v1/usage/limits/ft:gpt-4o-mini-2024-07-18:acme::x1",
        json={"tokens_per_minute": 123, "requests_per_minute": 4},
    )
    assert r.json()["family"] == "gpt-4o-mini"
    assert usage.admin.get("/v1/usage/limits/gpt-4o-mini").json()["tokens_per_minute"] == 123


def test_limits__are_per_organisation(usage: UsageApi):
    usage.admin.put(
        "/v1/usage/limits/gpt-4", params={"org": "org-a"}, json={"tokens_per_minute": 1}
    )
    assert (
        usage.admin.get("/v1/usage/limits/gpt-4", params={"org": "org-a"}).json()[
            "tokens_per_minute"
        ]
        == 1
    )
    assert (
        usage.admin.get("/v1/usage/limits/gpt-4", params={"org": "org-b"}).json()[
            "tokens_per_minute"
        ]
        == 10000
    )


def test_limits__list_covers_every_family(usage: UsageApi):
    body = usage.admin.get("/v1/usage/limits").json()
    by_family = {row["family"]: row for row in body["limits"]}
    assert {"gpt-3.5-turbo", "gpt-4o-mini", "gpt-4.1", "davinci-002"} <= set(by_family)
    assert by_family["gpt-4.1"]["tokens_per_minute"] is None
    assert by_family["gpt-4.1"]["tokens_source"] is None


def test_limits__invalid_limits_are_422(usage: UsageApi):
    for body in [
        {"tokens_per_minute": 0},
        {"tokens_per_minute": -5},
        {"tokens_per_minute": 1.5},
        {"tokens_per_minute": "100"},
        {"requests_per_minute": 10},
        {"tokens_per_minute": 100, "requests_per_minute": 0},
    ]:
        assert usage.admin.put("/v1/usage/limits/gpt-4", json=body).status_code == 422, body
    assert usage.admin.get("/v1/usage/limits/gpt-4").json()["configured"] is None


def test_limits__unknown_family_is_422_with_suggestions(usage: UsageApi):
    r = usage.admin.put("/v1/usage/limits/gpt-5-turbo", json={"tokens_per_minute": 1})
    assert r.status_code == 422
    assert r.json()["suggestions"]


def test_limits__setting_needs_admin_reading_needs_read(usage: UsageApi):
    launcher = usage.api.client_with("read", "estimate", "launch")
    assert launcher.put("/v1/usage/limits/gpt-4", json={"tokens_per_minute": 1}).status_code == 403
    assert launcher.delete("/v1/usage/limits/gpt-4").status_code == 403
    assert launcher.get("/v1/usage/limits/gpt-4").status_code == 200
    assert usage.api.anon.get("/v1/usage/limits").status_code == 401


def test_limits__clock_dependency_is_the_real_clock_in_production():
    before = datetime.now(UTC)
    assert asyncio.run(current_time()) >= before
