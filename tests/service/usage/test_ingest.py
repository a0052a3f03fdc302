"""POST /v1/usage: counting rule, family pools, de-duplication and all-or-nothing validation."""

from __future__ import annotations

from tests.service.usage.support import UsageApi, ev

FT = "ft:gpt-3.5-turbo-0613:acme::8abc123"


def test_ingest__counts_prompt_plus_completion_without_max_tokens(usage: UsageApi):
    r = usage.post_events(ev(prompt=1000, completion=200))
    assert r.status_code == 200, r.text
    assert r.json()["tokens_counted"] == 1200
    pool = usage.pool("gpt-3.5-turbo")
    assert (pool["tokens_per_minute"], pool["requests_per_minute"]) == (1200, 1)


def test_ingest__counts_prompt_plus_max_tokens_when_given(usage: UsageApi):
    # OpenAI's limiter reserves max_tokens up front, whatever the completion turned out to be.
    usage.post_events(ev(prompt=1000, completion=20, max_tokens=500))
    assert usage.pool("gpt-3.5-turbo")["tokens_per_minute"] == 1500


def test_ingest__single_event_form(usage: UsageApi):
    r = usage.admin.post("/v1/usage", json=ev(prompt=10, completion=5, request_id="one"))
    assert r.status_code == 200, r.text
    assert (r.json()["received"], r.json()["accepted"], r.json()["tokens_counted"]) == (1, 1, 15)


def test_ingest__ft_models_and_snapshots_land_in_the_base_family_pool(usage: UsageApi):
    r = usage.post_events(
        ev("gpt-3.5-turbo", 100, 0),  # alias -> 0125 on 2025-06-02
        ev("gpt-3.5-turbo-0613", 200, 0),
        ev(FT, 300, 0),
        ev(FT, 300, 0),
        ev("ft:gpt-3.5-turbo-1106:acme:support:9xyz:ckpt-step-200", 50, 0),
        ev("gpt-4o-mini", 7, 0),
    )
    assert r.status_code == 200, r.text
    assert r.json()["pools"] == [
        {"family": "gpt-3.5-turbo", "tokens": 950, "requests": 5},
        {"family": "gpt-4o-mini", "tokens": 7, "requests": 1},
    ]
    pool = usage.pool("gpt-3.5-turbo")
    assert pool["tokens_per_minute"] == 950
    split = {
        m["model"]: (m["tokens_per_minute"], m["requests_per_minute"], m["fine_tuned"])
        for m in pool["models"]
    }
    assert split == {
        "gpt-3.5-turbo-0125": (100, 1, False),
        "gpt-3.5-turbo-0613": (200, 1, False),
        FT: (600, 2, True),
        "ft:gpt-3.5-turbo-1106:acme:support:9xyz:ckpt-step-200": (50, 1, True),
    }
    # base snapshots first, then fine-tuned models by traffic
    assert [m["model"] for m in pool["models"]][2] == FT


def test_ingest__duplicate_request_ids_count_once_within_and_across_batches(usage: UsageApi):
    first = usage.post_events(
        ev(prompt=10, request_id="a"),
        ev(prompt=10, request_id="a"),
        ev(prompt=10, request_id="b"),
        ev(prompt=10),
    ).json()
    assert (first["accepted"], first["duplicates"], first["duplicate_request_ids"]) == (3, 1, ["a"])
    again = usage.post_events(ev(prompt=10, request_id="b"), ev(prompt=10, request_id="c")).json()
    assert (again["accepted"], again["duplicates"], again["duplicate_request_ids"]) == (1, 1, ["b"])
    assert usage.pool("gpt-3.5-turbo")["requests_per_minute"] == 4
    assert usage.pool("gpt-3.5-turbo")["tokens_per_minute"] == 4 * 60


def test_ingest__request_ids_are_per_organisation(usage: UsageApi):
    usage.post_events(ev(request_id="r1"), org="org-a")
    r = usage.post_events(ev(request_id="r1"), org="org-b").json()
    assert (r["org"], r["accepted"], r["duplicates"]) == ("org-b", 1, 0)
    assert usage.pool("gpt-3.5-turbo", org="org-a")["requests_per_minute"] == 1
    assert usage.pool("gpt-3.5-turbo", org="org-b")["requests_per_minute"] == 1
    assert usage.pool("gpt-3.5-turbo")["requests_per_minute"] == 0  # the "default" org saw nothing


BAD_FIELDS = [
    ("prompt_tokens", -1),
    ("prompt_tokens", 12.5),
    ("prompt_tokens", 12.0),
    ("prompt_tokens", "12"),
    ("prompt_tokens", True),
    ("completion_tokens", 10_000_001),
    ("max_tokens", 0),
    ("max_tokens", 20_000_000),
    ("prompt_tokens", None),
    ("timestamp", "2025-06-02T12:00:00"),  # no UTC offset
    ("timestamp", "yesterday"),
    ("tokens", 5),  # a typo of a field name must not be ignored silently
]


def test_ingest__bad_event_rejects_the_whole_batch(usage: UsageApi):
    good = ev(prompt=10, request_id="good")
    for field, value in BAD_FIELDS:
        r = usage.post_events(good, {**ev(prompt=10), field: value})
        assert r.status_code == 422, (field, value, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "events.1" in r.json()["detail"], (field, value)
    assert usage.pool("gpt-3.5-turbo")["requests_per_minute"] == 0
    # the good event's request id was not consumed either
    assert usage.post_events(good).json()["accepted"] == 1


def test_ingest__timestamps_far_in_the_future_or_past_are_422(usage: UsageApi):
    for offset_seconds, message in [
        (-301, "more than 5 minutes in the future"),
        (7 * 86400 + 1, "older than 7 days"),
    ]:
        r = usage.post_events(ev(prompt=10), ev(prompt=10, ago=offset_seconds, request_id="x"))
        assert r.status_code == 422
        body = r.json()
        assert body["code"] == "bad_timestamp"
        assert body["errors"][0]["index"] == 1 and body["errors"][0]["message"] == message
    assert usage.pool("gpt-3.5-turbo")["requests_per_minute"] == 0


def test_ingest__timestamps_at_the_edges_are_accepted(usage: UsageApi):
    r = usage.post_events(ev(prompt=1, ago=-300), ev(prompt=1, ago=7 * 86400))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2


def test_ingest__unknown_model_is_422_with_suggestions_and_nothing_is_written(usage: UsageApi):
    r = usage.post_events(
        ev("gpt-4o-mini", request_id="kept-free"),
        ev("gpt-35-turbo"),
        ev("gpt-35-turbo"),
        ev("ft:gpt-9:acme::x"),
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "unknown_model"
    assert body["model"] == "gpt-35-turbo"
    assert "gpt-3.5-turbo" in body["suggestions"]
    assert [(u["model"], u["indices"]) for u in body["unknown_models"]] == [
        ("gpt-35-turbo", [1, 2]),
        ("ft:gpt-9:acme::x", [3]),
    ]
    assert "nothing was recorded" in body["detail"]
    assert usage.pool("gpt-4o-mini")["requests_per_minute"] == 0
    assert usage.post_events(ev("gpt-4o-mini", request_id="kept-free")).json()["accepted"] == 1


def test_ingest__model_not_yet_released_at_the_timestamp_is_422(usage: UsageApi, clock):
    # gpt-4o-mini appeared on 2024-07-18; a usage report dated before that is a client bug.
    clock.now = clock.now.replace(year=2024, month=7, day=1)
    r = usage.post_events(ev("gpt-4o-mini", at=clock.now))
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_model"


def test_ingest__batch_limits(usage: UsageApi):
    assert usage.admin.post("/v1/usage", json={"events": []}).status_code == 422
    too_many = {"events": [ev(prompt=1)] * 10_001}
    assert usage.admin.post("/v1/usage", json=too_many).status_code == 422
    r = usage.admin.post("/v1/usage", json={"events": [ev(prompt=1)] * 10_000})
    assert r.status_code == 200
    assert usage.pool("gpt-3.5-turbo")["requests_per_minute"] == 10_000


def test_ingest__needs_the_estimate_scope(usage: UsageApi):
    assert usage.api.anon.post("/v1/usage", json=ev()).status_code == 401
    reader = usage.api.client_with("read")
    assert reader.post("/v1/usage", json=ev()).status_code == 403
    writer = usage.api.client_with("estimate")
    assert writer.post("/v1/usage", json=ev()).status_code == 200


def test_ingest__openapi_documents_the_counting_rule(usage: UsageApi):
    spec = usage.admin.get("/openapi.json").json()
    description = spec["paths"]["/v1/usage"]["post"]["description"]
    assert "prompt_tokens + max_tokens" in description
    assert "prompt_tokens + completion_tokens" in description


def test_ingest__total_tokens_of_openai_usage_object_is_accepted_and_ignored(usage: UsageApi):
    r = usage.post_events(ev(prompt=10, completion=5, total_tokens=999))
    assert r.json()["tokens_counted"] == 15


def test_ingest__control_characters_are_422_not_a_database_error(usage: UsageApi):
    # PostgreSQL cannot store NUL; such names must be refused before they reach it.
    for event in [
        ev(request_id="a\x00b"),
        ev(model="ft:gpt-3.5-turbo-0613:acme::ab\x00c"),
        ev(model="gpt-4o\n"),
    ]:
        r = usage.post_events(event)
        assert r.status_code == 422, r.text
    r = usage.admin.post(
        "/v1/usage/ratelimit",
        json={
            "model": "ft:gpt-4o-2024-08-06:a::\x00",
            "headers": {"x-ratelimit-limit-tokens": "5"},
        },
    )
    assert r.status_code == 422
    assert usage.pool("gpt-3.5-turbo")["requests_per_minute"] == 0
