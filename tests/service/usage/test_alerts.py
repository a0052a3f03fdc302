"""Threshold alerts: one tpm.threshold event per crossing, with hysteresis, written with usage."""

from __future__ import annotations

from tests.service.usage.support import UsageApi, ev

# gpt-4 at tier 1: 10,000 TPM and 500 RPM; default threshold 80 %, re-armed under 70 %.


def states(usage: UsageApi) -> list[tuple[str, str, str]]:
    return [
        (e.payload["state"], e.payload["utilisation_pct"], e.dedupe_key) for e in usage.events()
    ]


def test_alerts__crossing_above_publishes_one_event_with_the_pool_figures(usage: UsageApi):
    usage.post_events(ev("gpt-4", 7000, 0))
    assert usage.events() == []
    usage.post_events(ev("gpt-4-0613", 500, 500))  # 8,000 of 10,000: exactly the threshold
    [event] = usage.events()
    assert event.kind == "tpm.threshold"
    assert event.subject == "default/gpt-4"
    assert event.dedupe_key == "tpm.threshold:default:gpt-4:1"
    assert event.payload == {
        "org": "default",
        "family": "gpt-4",
        "state": "above",
        "utilisation_pct": "80.0",
        "threshold_pct": 80,
        "limited_by": "tokens",
        "tokens_per_minute": 8000,
        "limit_tokens_per_minute": 10000,
        "requests_per_minute": 2,
        "limit_requests_per_minute": 500,
        "at": "2025-06-02T12:00:05+00:00",
    }
    assert usage.pool("gpt-4")["alert"]["state"] == "above"


def test_alerts__no_storm_while_above_and_rearm_only_below_threshold_minus_margin(usage: UsageApi):
    usage.post_events(ev("gpt-4", 8500, 0))
    usage.post_events(ev("gpt-4", 1000, 0))  # 95 %: still the same crossing
    usage.post_events(ev("gpt-4", 1000, 0))  # 105 %
    assert [s[0] for s in states(usage)] == ["above"]
    usage.clock.advance(minutes=1)
    usage.post_events(ev("gpt-4", 7500, 0, at=usage.clock.now))  # 75 %: under 80 but not under 70
    assert [s[0] for s in states(usage)] == ["above"]
    usage.clock.advance(minutes=1)
    usage.post_events(ev("gpt-4", 6000, 0, at=usage.clock.now))  # 60 %: re-armed
    usage.post_events(ev("gpt-4", 500, 0, at=usage.clock.now))  # 65 %: nothing new
    usage.post_events(ev("gpt-4", 2000, 0, at=usage.clock.now))  # 85 %: a new crossing
    assert states(usage) == [
        ("above", "85.0", "tpm.threshold:default:gpt-4:1"),
        ("below", "60.0", "tpm.threshold:default:gpt-4:2"),
        ("above", "85.0", "tpm.threshold:default:gpt-4:3"),
    ]


def test_alerts__a_rejected_batch_publishes_nothing(usage: UsageApi):
    r = usage.post_events(ev("gpt-4", 9000, 0), ev("gpt-4", -1, 0))
    assert r.status_code == 422
    r = usage.post_events(ev("gpt-4", 9000, 0), ev("gpt-44", 1, 0))
    assert r.status_code == 422
    assert usage.events() == []
    assert usage.pool("gpt-4")["alert"]["state"] == "below"


def test_alerts__requests_per_minute_can_trip_the_threshold(usage: UsageApi):
    usage.post_events(*[ev("gpt-4", 1, 0)] * 450)
    [event] = usage.events()
    assert (event.payload["limited_by"], event.payload["utilisation_pct"]) == ("requests", "90.0")


def test_alerts__lowering_the_limit_can_cross_the_threshold(usage: UsageApi):
    usage.post_events(ev("gpt-4", 5000, 0))
    assert usage.events() == []
    usage.admin.put("/v1/usage/limits/gpt-4", json={"tokens_per_minute": 6000})
    [event] = usage.events()
    assert event.payload["utilisation_pct"] == "83.3"
    assert event.payload["limit_tokens_per_minute"] == 6000


def test_alerts__learning_the_limit_from_headers_can_cross_the_threshold(usage: UsageApi):
    usage.post_events(ev("gpt-4.1", 9000, 0))  # no tier default: no utilisation, no alert
    assert usage.events() == []
    usage.admin.post(
        "/v1/usage/ratelimit",
        json={"model": "gpt-4.1", "headers": {"x-ratelimit-limit-tokens": "10000"}},
    )
    assert [e.subject for e in usage.events()] == ["default/gpt-4.1"]


def test_alerts__pools_of_each_organisation_alert_separately(usage: UsageApi):
    usage.post_events(ev("gpt-4", 9000, 0), org="org-a")
    usage.post_events(ev("gpt-4", 9000, 0), org="org-b")
    assert sorted(e.dedupe_key for e in usage.events()) == [
        "tpm.threshold:org-a:gpt-4:1",
        "tpm.threshold:org-b:gpt-4:1",
    ]
