"""Reading pools: the current 60-second window, limit, headroom, split by model, history."""

from __future__ import annotations

from datetime import timedelta

from tests.service.usage.support import T0, UsageApi, ev

FT_A = "ft:gpt-3.5-turbo-0613:acme::aaa111"
FT_B = "ft:gpt-3.5-turbo-1106:acme:support:bbb222"


def test_pool__current_window_is_the_last_minute_in_ten_second_buckets(usage: UsageApi):
    # now = 12:00:05, so the window is the buckets 11:59:10 ... 12:00:00 (55 s back at most).
    usage.post_events(
        ev(prompt=1, completion=0, at=T0),
        ev(prompt=10, completion=0, ago=55),  # 11:59:10.000, first bucket of the window
        ev(prompt=100, completion=0, ago=55.001),  # 11:59:09.999, just outside
        ev(prompt=1000, completion=0, ago=-5),  # 12:00:10, a bucket still in the future
    )
    pool = usage.pool("gpt-3.5-turbo")
    assert (pool["tokens_per_minute"], pool["requests_per_minute"]) == (11, 2)
    assert pool["window"] == {
        "start": "2025-06-02T11:59:10Z",
        "end": "2025-06-02T12:00:05Z",
        "seconds": 55.0,
    }
    usage.clock.advance(seconds=10)  # 12:00:15: 11:59:10 has left the window, 12:00:10 entered it
    assert usage.pool("gpt-3.5-turbo")["tokens_per_minute"] == 1 + 1000
    usage.clock.advance(minutes=2)
    assert usage.pool("gpt-3.5-turbo")["tokens_per_minute"] == 0


def test_pool__limit_headroom_and_utilisation(usage: UsageApi):
    # tier 1 gpt-3.5-turbo: 60,000 TPM and 3,500 RPM
    usage.post_events(*[ev(prompt=4000, completion=500)] * 10)
    pool = usage.pool("gpt-3.5-turbo")
    assert pool["tokens_per_minute"] == 45000
    assert (pool["headroom_tokens_per_minute"], pool["headroom_requests_per_minute"]) == (
        15000,
        3490,
    )
    assert (pool["tokens_utilisation_pct"], pool["requests_utilisation_pct"]) == ("75.0", "0.3")
    assert pool["utilisation_pct"] == "75.0"
    assert pool["alert"]["state"] == "below" and pool["alert"]["threshold_pct"] == 80


def test_pool__over_the_limit_shows_negative_headroom(usage: UsageApi):
    usage.post_events(*[ev(prompt=6600, completion=0)] * 10)
    pool = usage.pool("gpt-3.5-turbo")
    assert pool["headroom_tokens_per_minute"] == -6000
    assert pool["utilisation_pct"] == "110.0"


def test_pool__split_by_model_base_snapshot_and_each_ft_model(usage: UsageApi):
    usage.post_events(
        ev("gpt-3.5-turbo-0613", 300, 0),
        ev(FT_A, 500, 100),
        ev(FT_A, 500, 100),
        ev(FT_B, 100, 0),
        ev("gpt-3.5-turbo", 100, 0),
    )
    pool = usage.pool("gpt-3.5-turbo")
    assert pool["tokens_per_minute"] == 1700
    assert [
        (
            m["model"],
            m["fine_tuned"],
            m["tokens_per_minute"],
            m["requests_per_minute"],
            m["share_pct"],
        )
        for m in pool["models"]
    ] == [
        ("gpt-3.5-turbo-0613", False, 300, 1, "17.6"),
        ("gpt-3.5-turbo-0125", False, 100, 1, "5.9"),
        (FT_A, True, 1200, 2, "70.6"),
        (FT_B, True, 100, 1, "5.9"),
    ]


def test_pool__any_model_name_reads_its_family_pool(usage: UsageApi):
    usage.post_events(ev(FT_A, 10, 0))
    assert usage.pool(FT_B)["family"] == "gpt-3.5-turbo"
    assert usage.pool(FT_B)["tokens_per_minute"] == 10
    assert usage.pool("gpt-3.5-turbo-16k")["tokens_per_minute"] == 10


def test_pool__unknown_family_is_422_with_suggestions(usage: UsageApi):
    r = usage.admin.get("/v1/usage/pools/gpt4-turbo")
    assert r.status_code == 422
    assert "gpt-4-turbo" in r.json()["suggestions"]


def test_pool__family_without_any_known_limit_reads_with_null_limit(usage: UsageApi):
    usage.post_events(ev("gpt-4.1", 10, 0))
    pool = usage.pool("gpt-4.1")
    assert pool["tokens_per_minute"] == 10
    assert pool["limit"]["tokens_per_minute"] is None
    assert pool["headroom_tokens_per_minute"] is None and pool["utilisation_pct"] is None


def test_pools__list_pools_with_recent_usage_or_a_known_limit(usage: UsageApi):
    usage.post_events(ev("gpt-4o", 10, 0, ago=30 * 60))  # idle now, active this hour
    usage.post_events(ev("gpt-4o-mini", 10, 0))
    usage.post_events(ev("babbage-002", 10, 0, ago=2 * 3600))  # not this hour
    usage.admin.put("/v1/usage/limits/gpt-4", json={"tokens_per_minute": 5})
    body = usage.admin.get("/v1/usage/pools").json()
    assert body["org"] == "default"
    assert [p["family"] for p in body["pools"]] == ["gpt-4", "gpt-4o", "gpt-4o-mini"]
    by_family = {p["family"]: p for p in body["pools"]}
    assert by_family["gpt-4o"]["tokens_per_minute"] == 0
    assert by_family["gpt-4o-mini"]["tokens_per_minute"] == 10


def test_pools__list_finds_every_recently_used_family_of_the_org_and_none_of_another(
    usage: UsageApi,
):
    # Families of two organisations interleave alphabetically, and stale ones sit between
    # recent ones: the list must step over both.
    usage.post_events(ev("babbage-002", 10, 0, ago=2 * 3600))
    usage.post_events(ev("davinci-002", 10, 0, ago=10 * 60))
    usage.post_events(ev("gpt-4", 10, 0, ago=2 * 3600))
    usage.post_events(ev("gpt-4.1-nano", 20, 0))
    usage.post_events(ev("gpt-3.5-turbo", 10, 0, ago=3 * 3600), org="other")
    usage.post_events(ev("gpt-4o", 30, 0), org="other")
    mine = usage.admin.get("/v1/usage/pools").json()["pools"]
    theirs = usage.admin.get("/v1/usage/pools", params={"org": "other"}).json()["pools"]
    assert [(p["family"], p["tokens_per_minute"]) for p in mine] == [
        ("davinci-002", 0),
        ("gpt-4.1-nano", 20),
    ]
    assert [(p["family"], p["tokens_per_minute"]) for p in theirs] == [("gpt-4o", 30)]
    assert usage.admin.get("/v1/usage/pools", params={"org": "nobody"}).json()["pools"] == []


def test_pools__reading_needs_the_read_scope(usage: UsageApi):
    assert usage.api.anon.get("/v1/usage/pools").status_code == 401
    assert usage.api.client_with("read").get("/v1/usage/pools/gpt-4").status_code == 200


def _twenty_minutes(usage: UsageApi) -> None:
    # minute i of 11:40-11:59 carries i*100 tokens in one request
    start = T0.replace(hour=11, minute=40, second=1)
    usage.post_events(
        *[ev(prompt=i * 100, completion=0, at=start + timedelta(minutes=i)) for i in range(20)]
    )


def test_history__per_minute_series_with_peak_and_p95(usage: UsageApi):
    _twenty_minutes(usage)
    r = usage.admin.get(
        "/v1/usage/pools/gpt-3.5-turbo/history",
        params={"from": "2025-06-02T11:40:00Z", "to": "2025-06-02T12:00:00Z"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"]) == ("2025-06-02T11:40:00Z", "2025-06-02T12:00:00Z")
    assert len(body["minutes"]) == 20
    assert body["minutes"][3] == {
        "minute": "2025-06-02T11:43:00Z",
        "tokens": 300,
        "requests": 1,
        "prompt_tokens": 300,
        "completion_tokens": 0,
        "source": "reported",
        "estimated": False,
    }
    assert body["total"]["tokens"] == 100 * sum(range(20))
    assert body["peak"] == {
        "tokens_per_minute": 1900,
        "tokens_minute": "2025-06-02T11:59:00Z",
        "requests_per_minute": 1,
        "requests_minute": "2025-06-02T11:40:00Z",
    }
    # nearest rank: the 19th of 20 sorted minutes
    assert body["p95"] == {"tokens_per_minute": 1800, "requests_per_minute": 1}
    assert body["limit"]["tokens_per_minute"] == 60000


def test_history__idle_minutes_are_zeros_and_partial_minutes_are_included(usage: UsageApi):
    usage.post_events(ev(prompt=7, completion=0, at=T0.replace(hour=11, minute=50, second=59)))
    body = usage.admin.get(
        "/v1/usage/pools/gpt-3.5-turbo/history",
        params={"from": "2025-06-02T11:48:30Z", "to": "2025-06-02T11:52:00.5Z"},
    ).json()
    assert [(m["minute"][11:16], m["tokens"]) for m in body["minutes"]] == [
        ("11:48", 0),
        ("11:49", 0),
        ("11:50", 7),
        ("11:51", 0),
        ("11:52", 0),
    ]


def test_history__defaults_to_the_last_hour(usage: UsageApi):
    usage.post_events(
        ev(prompt=5, completion=0, ago=59 * 60), ev(prompt=9, completion=0, ago=61 * 60)
    )
    body = usage.admin.get("/v1/usage/pools/gpt-3.5-turbo/history").json()
    assert body["to"] == "2025-06-02T12:01:00Z" and body["from"] == "2025-06-02T11:00:00Z"
    assert body["total"]["tokens"] == 5  # 61 minutes ago (10:59:05) is before the range


def test_history__bad_ranges_are_422(usage: UsageApi):
    for params in [
        {"from": "2025-06-02T12:00:00Z", "to": "2025-06-02T11:00:00Z"},
        {"from": "2025-06-02T12:00:00Z", "to": "2025-06-02T12:00:00Z"},
        {"from": "2025-04-01T00:00:00Z", "to": "2025-06-02T00:00:00Z"},
        {"from": "2025-06-02T11:00:00", "to": "2025-06-02T12:00:00Z"},
        {"from": "noon"},
        {"from": "9999-12-31T23:00:00Z", "to": "9999-12-31T23:59:30Z"},
    ]:
        r = usage.admin.get("/v1/usage/pools/gpt-3.5-turbo/history", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
