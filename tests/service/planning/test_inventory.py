"""The inventory: every fine-tuned model from jobs, OpenAI and usage, sorted by days left."""

from __future__ import annotations

from decimal import Decimal

from tests.service.planning.conftest import SQLITE_ONLY, PlanningEnv

OLD = "ft:gpt-3.5-turbo-0125:acme::old1"


@SQLITE_ONLY
def test_inventory__merges_openai_and_usage_sorted_by_days_left(env: PlanningEnv) -> None:
    job = env.fine_tune()
    name = job["fine_tuned_model"]
    # 4 requests of 200 + 100 tokens in one minute on the new model, 2 on a gpt-3.5 fine-tune.
    env.usage(name, 200, 100, n=4)
    env.usage(OLD, 50, 10, n=2, ago=3600)

    r = env.reader.get("/v1/planning/fine-tuned-models", params={"days": 1})

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["openai"] == "read"
    assert body["fine_tuning_closes"] == "2027-01-06"
    assert [m["model"] for m in body["models"]] == [OLD, name]
    old, new = body["models"]
    # gpt-3.5-turbo fine-tunes stopped on 2026-10-23: no days left.
    assert old["countdown"] == {
        "state": "shut_down",
        "shutdown_date": "2026-10-23",
        "days_left": 0,
        "replacement": "gpt-5.6-terra",
        "fine_tuning_last_day": None,
    }
    assert old["sources"] == ["usage"]
    assert new["base"] == "gpt-4o-mini-2024-07-18"
    assert new["sources"] == ["openai", "usage"]
    assert new["method"] == "supervised"
    assert new["job_id"] == job["id"]
    assert new["trained_tokens"] == job["trained_tokens"]
    # No ratecard job: the cost is computed from OpenAI's trained tokens at $3.00 per 1M.
    assert new["training_cost_basis"] == "computed"
    assert Decimal(new["training_cost_usd"]) == (
        Decimal(job["trained_tokens"]) * Decimal("3.00") / 1_000_000
    ).quantize(Decimal("0.000001"))
    assert new["countdown"]["shutdown_date"] == "2027-01-14"
    assert new["countdown"]["days_left"] == 38
    assert new["countdown"]["replacement"] == "gpt-6-luna"
    assert new["countdown"]["fine_tuning_last_day"] == "2027-01-05"
    assert new["traffic"] == {
        "source": "reported",
        "days": 1,
        "requests": 4,
        "requests_per_day": "4.00",
        "avg_prompt_tokens": "200.00",
        "avg_completion_tokens": "100.00",
        "peak_tokens_per_minute": 1200,
        "last_seen": new["traffic"]["last_seen"],
    }


@SQLITE_ONLY
def test_inventory__fine_tuned_models_without_traffic_are_listed(env: PlanningEnv) -> None:
    job = env.fine_tune(model="gpt-4.1-mini", suffix="docs")

    body = env.reader.get("/v1/planning/fine-tuned-models").json()

    (model,) = body["models"]
    assert model["model"] == job["fine_tuned_model"]
    assert model["traffic"] is None


@SQLITE_ONLY
def test_inventory__answers_from_usage_when_openai_is_not_asked(env: PlanningEnv) -> None:
    env.fine_tune()
    env.usage(OLD, 50, 10)

    body = env.reader.get("/v1/planning/fine-tuned-models", params={"openai": "false"}).json()

    assert body["openai"] == "skipped"
    assert [m["model"] for m in body["models"]] == [OLD]


def test_inventory__needs_a_read_key(env: PlanningEnv) -> None:
    from tests.service.conftest import client_for

    with client_for(env.app, None) as anon:
        r = anon.get("/v1/planning/fine-tuned-models")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert env.reader.get("/v1/planning/fine-tuned-models").status_code == 200


@SQLITE_ONLY
def test_inventory__says_when_openai_is_down_and_answers_from_the_rest(env: PlanningEnv) -> None:
    env.fine_tune()
    env.usage(OLD, 50, 10)
    env.fake.inject_fault("server_error", path="/v1/models", status=500, times=10)

    r = env.reader.get("/v1/planning/fine-tuned-models")

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["openai"] == "unavailable: OpenAIUnavailable"
    assert [m["model"] for m in body["models"]] == [OLD]
