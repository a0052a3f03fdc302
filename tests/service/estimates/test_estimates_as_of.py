"""REST estimates as of any date, checked against the figures of the 2025-2026 reference
(/work/shared/reference/openai-2025-2026.md): tiers, cached and cache-write tokens, long context,
fine-tuning methods, reinforcement hours, free-training promotions and lifecycle warnings."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from tests.service.estimates.test_estimates_api import TOY

INFERENCE = "/v1/estimates/inference"
TRAINING = "/v1/estimates/training"
TODAY = "2026-12-06"
PROBLEM = "application/problem+json"


def infer(
    api: Any,
    model: str,
    as_of: str,
    prompt: int = 1000,
    completion: int = 1000,
    *,
    cached: int = 0,
    written: int = 0,
    tier: str | None = None,
    **extra: Any,
) -> Any:
    body: dict[str, Any] = {
        "model": model,
        "as_of": as_of,
        "workload": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "requests_per_day": 1000,
            "cached_prompt_tokens": cached,
            "cache_write_tokens": written,
        },
        **extra,
    }
    if tier is not None:
        body["tier"] = tier
    return api.admin.post(INFERENCE, json=body)


def per_request(api: Any, *args: Any, **kwargs: Any) -> str:
    r = infer(api, *args, **kwargs)
    assert r.status_code == 201, r.text
    return r.json()["cost_per_request_usd"]


def usd(prompt: str, completion: str, n_prompt: int = 1000, n_completion: int = 1000) -> str:
    """The reference's per-1M prices applied by hand to a request."""
    total = (n_prompt * D(prompt) + n_completion * D(completion)) / 10**6
    return f"{total.normalize():f}"


# --- o-series ------------------------------------------------------------------------------------


def test_o3__the_2025_06_10_price_cut_applies_from_that_day(api):
    # Reference section 2: o3 10.00/40.00 from 2025-04-16, 2.00/8.00 from 2025-06-10.
    assert per_request(api, "o3", "2025-06-09") == "0.05"
    assert per_request(api, "o3", "2025-06-10") == "0.01"


def test_o3__flex_is_its_own_price_before_and_after_the_cut(api):
    # Section 3: o3 flex 5.00/20.00 from 2025-04-17, 1.00/0.25 cached/4.00 from 2025-06-10.
    assert per_request(api, "o3", "2025-05-01", tier="flex") == "0.025"
    r = infer(api, "o3", "2025-07-01", cached=400, tier="flex")
    scenario = r.json()["scenarios"][0]
    assert (scenario["tier"], scenario["usd_per_1m_cached_input_tokens"]) == ("flex", "0.25")
    expected = (600 * D("1.00") + 400 * D("0.25") + 1000 * D("4.00")) / 10**6
    assert D(r.json()["cost_per_request_usd"]) == expected


# --- GPT-5 ---------------------------------------------------------------------------------------


def test_gpt5__priced_from_its_release_with_cached_input(api):
    # Section 2: gpt-5-2025-08-07 1.25 input, 0.125 cached, 10.00 output from 2025-08-07.
    r = infer(api, "gpt-5", "2025-08-07", 10_000, 1000, cached=4000)
    assert r.status_code == 201, r.text
    scenario = r.json()["scenarios"][0]
    assert scenario["model"] == "gpt-5-2025-08-07"
    assert (scenario["cached_prompt_tokens"], scenario["usd_per_1m_cached_input_tokens"]) == (
        4000,
        "0.125",
    )
    # 6,000 x 1.25 + 4,000 x 0.125 + 1,000 x 10 = $0.018 a request.
    assert r.json()["cost_per_request_usd"] == "0.018"
    assert infer(api, "gpt-5", "2025-08-06").status_code == 422  # not released yet


def test_gpt5__batch_halves_every_price_including_cached(api):
    # Section 3: gpt-5 batch 0.625 / 0.0625 / 5.00.
    r = infer(api, "gpt-5", "2025-08-07", 10_000, 1000, cached=4000, tier="batch")
    assert r.json()["cost_per_request_usd"] == "0.009"
    assert r.json()["tier"] == "batch"


# --- GPT-5.5 long context, GPT-5.6 ---------------------------------------------------------------


def test_gpt55__a_prompt_over_272k_bills_the_whole_request_at_the_long_context_step(api):
    # Section 2: gpt-5.5 5.00/30.00; over 272K input tokens 10.00/45.00 for the whole request.
    at = infer(api, "gpt-5.5", TODAY, 272_000, 1000).json()
    over = infer(api, "gpt-5.5", TODAY, 272_001, 1000).json()
    assert D(at["cost_per_request_usd"]) == (272_000 * D(5) + 1000 * D(30)) / 10**6
    assert not at["scenarios"][0]["long_context"]
    assert D(over["cost_per_request_usd"]) == (272_001 * D(10) + 1000 * D(45)) / 10**6
    assert over["scenarios"][0]["long_context"]
    assert any("long-context" in w for w in over["warnings"])


def test_gpt56_luna__the_2026_07_30_cut_and_its_cache_write_price(api):
    # Section 2: gpt-5.6-luna 1.00 / 0.10 cached / 1.25 cache write / 6.00 from 2026-07-09,
    # 0.20 / 0.02 / 0.25 / 1.20 from 2026-07-30.
    def cost(as_of: str) -> dict[str, Any]:
        return infer(api, "gpt-5.6-luna", as_of, 2000, 100, cached=1000, written=500).json()

    before, after = cost("2026-07-29"), cost("2026-07-30")
    assert (
        D(before["cost_per_request_usd"])
        == (500 * D("1.00") + 1000 * D("0.10") + 500 * D("1.25") + 100 * D("6.00")) / 10**6
    )
    assert (
        D(after["cost_per_request_usd"])
        == (500 * D("0.20") + 1000 * D("0.02") + 500 * D("0.25") + 100 * D("1.20")) / 10**6
    )
    assert after["scenarios"][0]["usd_per_1m_cache_write_tokens"] == "0.25"


# --- GPT-6 today, at each tier -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "reported", "expected"),
    [
        # Section 2 and 3: gpt-6-luna 0.10/0.50 standard; batch = flex = 50%; fast = 2x.
        ("standard", "standard", usd("0.10", "0.50", 2000, 300)),
        ("batch", "batch", usd("0.05", "0.25", 2000, 300)),
        ("flex", "flex", usd("0.05", "0.25", 2000, 300)),
        ("priority", "priority", usd("0.20", "1.00", 2000, 300)),
        ("fast", "priority", usd("0.20", "1.00", 2000, 300)),
    ],
)
def test_gpt6_luna__today_at_each_tier(api, tier, reported, expected):
    r = infer(api, "gpt-6-luna", TODAY, 2000, 300, tier=tier)
    assert r.status_code == 201, r.text
    assert r.json()["cost_per_request_usd"] == expected
    assert (r.json()["tier"], r.json()["scenarios"][0]["tier"]) == (reported, reported)


def test_scenarios__each_takes_its_own_tier_and_defaults_to_the_request_one(api):
    r = infer(
        api,
        "gpt-6-luna",
        TODAY,
        2000,
        300,
        tier="batch",
        scenarios=[{"model": "gpt-6-luna", "name": "fast", "tier": "fast"}, {"model": "gpt-6-sol"}],
    )
    assert r.status_code == 201, r.text
    tiers = [s["tier"] for s in r.json()["scenarios"]]
    assert tiers == ["batch", "priority", "batch"]


# --- unknown prices are a 422 naming model, field and version ------------------------------------


def test_unknown__flex_for_gpt_6_2_is_a_422_naming_model_field_and_version(api):
    # Section 3: no Flex rate published for gpt-6.2.
    r = infer(api, "gpt-6.2-sol", TODAY, tier="flex")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["field"] == "usd_per_1m_flex_input_tokens"
    assert "gpt-6.2-sol" in body["model"] and body["price_version"]
    assert body["price_version"] in body["detail"]


def test_unknown__cached_input_of_a_pro_model_is_a_422_not_zero(api):
    # Section 2 notes: pro models publish no cached price.
    assert infer(api, "gpt-5-pro", TODAY).status_code == 201
    r = infer(api, "gpt-5-pro", TODAY, cached=500)
    assert r.status_code == 422
    assert r.json()["field"] == "usd_per_1m_cached_input_tokens"


@pytest.mark.parametrize(
    "workload",
    [
        {"prompt_tokens": 100, "completion_tokens": 1, "requests_per_day": 1,
         "cached_prompt_tokens": 80, "cache_write_tokens": 30},
        {"prompt_tokens": 100, "completion_tokens": 1, "requests_per_day": 1,
         "cached_prompt_tokens": -1},
    ],
)  # fmt: skip
def test_workload__cached_parts_must_fit_the_prompt(api, workload):
    r = api.admin.post(INFERENCE, json={"model": "gpt-6-luna", "workload": workload})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)


def test_tier__an_unknown_tier_is_a_422(api):
    assert infer(api, "gpt-6-luna", TODAY, tier="turbo").status_code == 422


# --- lifecycle -----------------------------------------------------------------------------------


def test_lifecycle__a_fine_tuned_gpt_4o_mini_today_warns_it_dies_with_its_base(api):
    r = infer(api, "ft:gpt-4o-mini-2024-07-18:acme::x", TODAY)
    assert r.status_code == 201, r.text
    warning = (
        "ft:gpt-4o-mini-2024-07-18:acme::x shuts down (with its base model) on 2027-01-14, "
        "39 days from 2026-12-06; OpenAI recommends gpt-6-luna"
    )
    assert r.json()["warnings"] == [warning]
    assert r.json()["scenarios"][0]["warnings"] == [warning]
    stored = api.admin.get(f"/v1/estimates/{r.json()['id']}").json()
    assert stored["result"]["warnings"] == [warning]
    assert stored["inputs"]["workload"]["cached_prompt_tokens"] == 0


def test_lifecycle__a_model_past_its_shutdown_says_so(api):
    r = infer(api, "ft:gpt-3.5-turbo-0125:acme::x", TODAY)
    assert r.status_code == 201, r.text
    assert any("stopped answering on 2026-10-23" in w for w in r.json()["warnings"])


def test_stored__an_inference_estimate_keeps_its_tier_and_cached_prices(api):
    r = infer(api, "gpt-6-luna", TODAY, 2000, 300, cached=800, written=200, tier="fast")
    stored = api.admin.get(f"/v1/estimates/{r.json()['id']}").json()
    assert stored["inputs"]["tier"] == "fast"
    scenario = stored["result"]["scenarios"][0]
    assert (scenario["tier"], scenario["cached_prompt_tokens"], scenario["cache_write_tokens"]) == (
        "priority",
        800,
        200,
    )
    assert scenario["usd_per_1m_cached_input_tokens"] == "0.02"


# --- training: methods, reinforcement hours, promotions, lifecycle -------------------------------


def train(api: Any, **body: Any) -> Any:
    return api.admin.post(TRAINING, json=body)


def test_promotion__august_2024_gpt_4o_mini_training_was_free(api):
    # Section 4d: 2M training tokens a day free on gpt-4o-mini through the promotion.
    r = train(api, model="gpt-4o-mini", tokens=500_000, n_epochs=3, as_of="2024-08-15")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["charged_tokens"], body["free_training_tokens"], body["cost_usd"]) == (
        1_500_000,
        1_500_000,
        "0.00",
    )
    assert body["promotion"] and "2M" in body["promotion"]
    assert any(body["promotion"] in w for w in body["warnings"])


def test_promotion__november_2024_gpt_4o_mini_training_is_charged_in_full(api):
    # $3.00 per 1M training tokens (section 4b) and no promotion after 2024-10-31.
    body = train(api, model="gpt-4o-mini", tokens=500_000, n_epochs=3, as_of="2024-11-15").json()
    assert (body["free_training_tokens"], body["promotion"], body["cost_usd"]) == (0, None, "4.50")


def test_promotion__gpt_4o_allowance_is_1m_a_day(api):
    body = train(
        api, model="gpt-4o-2024-08-06", tokens=1_000_000, n_epochs=3, as_of="2024-09-01"
    ).json()
    assert (body["free_training_tokens"], body["cost_usd"]) == (1_000_000, "50.00")


def test_reinforcement__o4_mini_is_billed_per_assumed_hour(api):
    # Section 4b: o4-mini RFT $100 per hour of training from 2025-05-08.
    r = train(
        api,
        model="o4-mini",
        method="reinforcement",
        training_hours="2.5",
        training_hours_max=4,
        as_of="2025-06-01",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["method"], body["training_hours"], body["training_hours_max"]) == (
        "reinforcement",
        "2.5",
        "4",
    )
    assert (body["usd_per_training_hour"], body["cost_usd"], body["cost_usd_max"]) == (
        "100.00",
        "250.00",
        "400.00",
    )
    assert any("your assumption" in w for w in body["warnings"])
    stored = api.admin.get(f"/v1/estimates/{body['id']}").json()
    assert stored["result"]["cost_usd_max"] == "400.00"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "o4-mini", "method": "reinforcement"},  # no hours
        {"model": "o4-mini", "method": "reinforcement", "training_hours": 0},
        {"model": "o4-mini", "method": "reinforcement", "training_hours": 3, "tokens": 10},
        {"model": "o4-mini", "method": "reinforcement", "training_hours": 3,
         "training_hours_max": 2},
        {"model": "gpt-4.1", "tokens": 10, "training_hours": 3},  # hours without reinforcement
        {"model": "gpt-4.1", "tokens": 10, "method": "unsupervised"},
    ],
)  # fmt: skip
def test_reinforcement__bad_hours_are_a_422(api, body):
    r = train(api, as_of="2025-06-01", **body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)


def test_method__supervised_o4_mini_is_refused_and_preference_is_priced_like_supervised(api):
    r = train(api, model="o4-mini", tokens=1000, as_of="2025-06-01")
    assert r.status_code == 422 and "does not offer supervised" in r.json()["detail"]
    # Section 4b: DPO uses the single training price, gpt-4.1 $25 per 1M.
    body = train(
        api, model="gpt-4.1", tokens=100_000, n_epochs=2, method="preference", as_of=TODAY
    ).json()
    assert (body["method"], body["cost_usd"]) == ("preference", "5.00")


def test_lifecycle__a_davinci_002_training_estimate_today_warns_it_closed(api):
    r = train(api, model="davinci-002", tokens=100_000, n_epochs=3, as_of=TODAY)
    assert r.status_code == 201, r.text
    assert any("closed on 2024-10-28" in w for w in r.json()["warnings"])


def test_lifecycle__a_training_estimate_today_says_the_days_left(api):
    body = train(api, model="gpt-4.1-mini", tokens=100_000, n_epochs=3, as_of=TODAY).json()
    assert any("until 2027-01-05 (31 days left)" in w for w in body["warnings"])


def test_file__method_is_applied_and_reinforcement_is_refused_before_the_upload(api):
    with TOY.open("rb") as fh:
        r = api.admin.post(
            "/v1/estimates/training/file",
            files={"file": ("toy.jsonl", fh, "application/jsonl")},
            data={"model": "gpt-4o-mini", "as_of": "2024-08-15"},
        )
    assert r.status_code == 201, r.text
    assert (r.json()["method"], r.json()["cost_usd"]) == ("supervised", "0.00")
    assert r.json()["promotion"]
    with TOY.open("rb") as fh:
        r = api.admin.post(
            "/v1/estimates/training/file",
            files={"file": ("toy.jsonl", fh, "application/jsonl")},
            data={"model": "o4-mini", "method": "reinforcement"},
        )
    assert r.status_code == 422
    assert "per hour" in r.json()["detail"]
