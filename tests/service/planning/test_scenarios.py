"""Migration scenarios, checked against hand-computed figures.

The fine-tuned gpt-4o-mini serves 4 requests a day (window of 1 day) of 200 prompt + 100
completion tokens, all in one minute (peak 1,200 tokens/min). At the 2026-12-01 prices:

- today, ft:gpt-4o-mini at $0.30 / $1.20 per 1M: 200 x 0.30 + 100 x 1.20 = $0.00018 per request,
  $0.00072 per day, $0.0216 per 30-day month;
- the prompt was cut by 90%: 200 is the 10% kept, so 2,000 tokens go back (1,800 added);
- gpt-4o-mini at $0.15 / $0.60: 2,000 x 0.15 + 100 x 0.60 = $0.00036 per request, $0.00144 a
  day, $0.0432 a month, +$0.0216 (+100.0%);
- gpt-6-luna (OpenAI's recommendation) at $0.10 / $0.50: 2,000 x 0.10 + 100 x 0.50 = $0.00025,
  $0.001 a day, $0.03 a month, +$0.0084 (+38.9%).

Pool fit: the migrated peak is 1,200 x (2,000 + 100) / (200 + 100) = 8,400 tokens/min. On the
gpt-4o-mini pool, base traffic already peaked at 5,000 tokens/min in the fine-tune's busiest
minute (the fine-tune's own 1,200 move, so they are not counted twice): 13,400 of the tier-1
200,000 limit, 186,600 left.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from tests.service.planning.conftest import SQLITE_ONLY, PlanningEnv

CUT_90 = {"model": "gpt-4o-mini", "prompt_cut_pct": "90", "days": "1"}


def _seed(env: PlanningEnv) -> tuple[str, dict[str, Any]]:
    job = env.fine_tune()
    name = str(job["fine_tuned_model"])
    env.usage(name, 200, 100, n=4)
    env.usage("gpt-4o-mini", 5000, 0)  # the same minute as the fine-tune's own 1,200
    return name, job


def _by_name(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in plan["scenarios"]}


# Both databases: the traffic and peak queries are hand-written SQL.
def test_scenarios__prompt_cut_priced_on_replacements_from_observed_traffic(
    env: PlanningEnv,
) -> None:
    name, _ = _seed(env)

    r = env.reader.get(f"/v1/planning/fine-tuned-models/{name}/scenarios", params=CUT_90)

    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["today"]["cost_per_request_usd"] == "0.00018"
    assert plan["today"]["cost_per_day_usd"] == "0.00072"
    assert plan["today"]["cost_per_month_usd"] == "0.0216"
    assert [s["name"] for s in plan["scenarios"]] == ["gpt-6-luna", "gpt-4o-mini"]
    luna, mini = plan["scenarios"]
    assert luna["recommended"] is True and mini["recommended"] is False
    assert mini["added_prompt_tokens"] == 1800
    assert mini["cost"]["prompt_tokens"] == 2000
    assert mini["cost"]["completion_tokens"] == 100
    assert mini["cost"]["cost_per_request_usd"] == "0.00036"
    assert mini["cost"]["cost_per_day_usd"] == "0.00144"
    assert mini["cost"]["cost_per_month_usd"] == "0.0432"
    assert mini["change_per_month_usd"] == "0.0216"
    assert mini["change_percent"] == "100.0"
    assert mini["pool"] == {
        "family": "gpt-4o-mini",
        "tokens_per_minute_limit": 200000,
        "limit_source": "tier:1",
        "existing_peak_tokens_per_minute": 5000,
        "migrated_peak_tokens_per_minute": 8400,
        "peak_tokens_per_minute": 13400,
        "headroom_tokens_per_minute": 186600,
        "fits": True,
    }
    assert luna["cost"]["cost_per_request_usd"] == "0.00025"
    assert luna["cost"]["cost_per_month_usd"] == "0.03"
    assert luna["change_per_month_usd"] == "0.0084"
    assert luna["change_percent"] == "38.9"
    assert luna["pool"]["existing_peak_tokens_per_minute"] == 0
    assert luna["pool"]["migrated_peak_tokens_per_minute"] == 8400


@SQLITE_ONLY
def test_scenarios__a_pool_without_room_does_not_fit(env: PlanningEnv) -> None:
    name, _ = _seed(env)
    r = env.admin.put("/v1/usage/limits/gpt-4o-mini", json={"tokens_per_minute": 13000})
    assert r.status_code == 200, r.text

    plan = env.reader.get(f"/v1/planning/fine-tuned-models/{name}/scenarios", params=CUT_90)

    pool = _by_name(plan.json())["gpt-4o-mini"]["pool"]
    assert pool["tokens_per_minute_limit"] == 13000
    assert pool["headroom_tokens_per_minute"] == -400
    assert pool["fits"] is False


@SQLITE_ONLY
def test_scenarios__last_fine_tune_from_the_original_trained_tokens(env: PlanningEnv) -> None:
    """Given 1,000,000 requests a day of 200 + 100 tokens: the fine-tune costs $0.00018 x 10^6
    = $180 a day, the cheapest replacement (gpt-6-luna, cut 90%) $0.00025 x 10^6 = $250.
    Retraining on the original trained tokens at $3.00 per 1M serves 38 days to 2027-01-14:
    it saves 38 x $70 = $2,660 less the training cost."""
    name, job = _seed(env)
    body = {
        "scenarios": [{"model": "recommended", "prompt_cut_pct": "90"}],
        "volume": {
            "requests_per_day": "1000000",
            "prompt_tokens": "200",
            "completion_tokens": "100",
        },
        "days": 1,
    }

    r = env.reader.post(f"/v1/planning/fine-tuned-models/{name}/scenarios", json=body)

    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["today"]["cost_per_day_usd"] == "180.00"
    (luna,) = plan["scenarios"]
    assert luna["cost"]["cost_per_day_usd"] == "250.00"
    training = Decimal(job["trained_tokens"]) * 3 / 1_000_000
    last = plan["last_fine_tune"]
    assert last["possible"] is True
    assert last["last_day_to_launch"] == "2027-01-05"
    assert last["trained_tokens"] == job["trained_tokens"]
    assert Decimal(last["training_cost_usd"]) == training.quantize(Decimal("0.000001"))
    assert last["serves_days"] == 38
    assert last["shutdown_date"] == "2027-01-14"
    assert last["against"] == "gpt-6-luna"
    assert last["saving_per_day_usd"] == "70.00"
    assert Decimal(last["net_saving_usd"]) == (Decimal(2660) - training).quantize(
        Decimal("0.000001")
    )
    assert last["pays_for_itself"] is True


@SQLITE_ONLY
def test_scenarios__no_last_fine_tune_once_the_base_is_shut_down(env: PlanningEnv) -> None:
    old = "ft:gpt-3.5-turbo-0125:acme::old1"
    env.usage(old, 100, 10)

    r = env.reader.get(
        f"/v1/planning/fine-tuned-models/{old}/scenarios",
        params={"openai": "false", "added_prompt_tokens": "500", "tier": "batch"},
    )

    assert r.status_code == 200, r.text
    plan = r.json()
    (terra,) = plan["scenarios"]
    assert terra["name"] == "gpt-5.6-terra"
    assert terra["added_prompt_tokens"] == 500
    assert terra["cost"]["tier"] == "batch"
    assert any("batch" in w for w in terra["warnings"])
    assert plan["last_fine_tune"]["possible"] is False
    assert "2026-10-23" in plan["last_fine_tune"]["reason"]


@SQLITE_ONLY
def test_scenarios__csv_has_one_row_per_scenario(env: PlanningEnv) -> None:
    name, _ = _seed(env)

    r = env.reader.get(f"/v1/planning/fine-tuned-models/{name}/scenarios.csv", params=CUT_90)
    everything = env.reader.get("/v1/planning/scenarios.csv", params=CUT_90)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="migration-2026-12-07.csv"'
    assert everything.headers["content-disposition"] == (
        'attachment; filename="migration-all-2026-12-07.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["scenario"], row["cost_per_month_usd"], row["fits"]) for row in rows] == [
        ("gpt-6-luna", "0.03", ""),
        ("gpt-4o-mini", "0.0432", "yes"),
    ]
    assert rows[0]["today_cost_per_month_usd"] == "0.0216"
    assert rows[0]["days_left"] == "38"
    assert everything.status_code == 200
    assert list(csv.DictReader(io.StringIO(everything.text))) == rows


@SQLITE_ONLY
def test_scenarios__bad_input_is_a_problem(env: PlanningEnv) -> None:
    name, _ = _seed(env)
    base = f"/v1/planning/fine-tuned-models/{name}/scenarios"

    unknown = env.reader.get(
        "/v1/planning/fine-tuned-models/ft:gpt-4o-mini-2024-07-18:x::nope/scenarios"
    )
    bad_tier = env.reader.get(base, params={"tier": "priority-ish"})
    both = env.reader.post(
        base,
        json={
            "scenarios": [{"model": "gpt-4o-mini", "added_prompt_tokens": 5, "prompt_cut_pct": 50}]
        },
    )
    no_model = env.reader.get(base, params={"model": "gpt-9-imaginary"})

    for r, status in ((unknown, 404), (bad_tier, 422), (both, 422), (no_model, 422)):
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


def test_scenarios__need_a_read_key(env: PlanningEnv) -> None:
    from tests.service.conftest import client_for

    with client_for(env.app, None) as anon:
        r = anon.post(
            "/v1/planning/fine-tuned-models/ft:gpt-4o-mini-2024-07-18:a::b/scenarios", json={}
        )
    assert r.status_code == 401
