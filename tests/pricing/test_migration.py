"""Migration scenarios, checked against hand-computed cases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from pricing.catalogue import load_catalogue
from pricing.errors import InvalidEstimateInputError
from pricing.estimate import Workload, estimate_inference, estimate_training
from pricing.lifecycle import load_lifecycle
from pricing.migration import (
    ScenarioInput,
    Traffic,
    last_fine_tune,
    price_scenario,
    prompt_after_migration,
)
from pricing.prices import load_builtin_price_book

TODAY = date(2026, 12, 6)
BOOK = load_builtin_price_book()
FT = "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"
TRAFFIC = Traffic(
    requests_per_day=D(10_000),
    prompt_tokens=D(200),
    completion_tokens=D(100),
    peak_tokens_per_minute=5_000,
    source="imported",
)


def resolve(name):
    return load_catalogue().resolve(name, as_of=TODAY)


def today_cost():
    return estimate_inference(
        model=resolve(FT), workload=Workload(200, 100, 10_000), book=BOOK, as_of=TODAY
    )


def scenario(**kwargs):
    inputs = ScenarioInput(**{"model": "gpt-6-luna", "prompt_cut": D("0.9"), **kwargs})
    return price_scenario(
        today=today_cost(),
        traffic=TRAFFIC,
        scenario=inputs,
        replacement=resolve(inputs.model),
        book=BOOK,
        as_of=TODAY,
        tokens_per_minute_limit=200_000,
        existing_peak_tokens_per_minute=150_000,
        lifecycle=load_lifecycle(),
    )


def test_today__the_fine_tuned_model_costs_54_a_month():
    # 200 x $0.30/1M + 100 x $1.20/1M = $0.00018 a request, x 10,000 a day x 30.
    assert today_cost().cost_per_month_usd == D(54)


def test_scenario__prompt_cut_by_90_percent_comes_back_on_gpt_6_luna():
    s = scenario()
    # 2,000 prompt tokens (200 was the 10% kept) x $0.10/1M + 100 x $0.50/1M = $0.00025.
    assert (s.prompt_tokens, s.added_prompt_tokens) == (2000, 1800)
    assert s.estimate.cost_per_request_usd == D("0.00025")
    assert s.estimate.cost_per_month_usd == D(75)
    assert (s.change_per_month_usd, s.change_percent) == (D(21), D("38.9"))


def test_scenario__pool_fit_counts_the_traffic_already_there():
    pool = scenario().pool
    # Each request grows from 300 to 2,100 tokens: the 5,000-token peak minute becomes 35,000.
    assert pool.migrated_peak_tokens_per_minute == 35_000
    assert (pool.peak_tokens_per_minute, pool.headroom_tokens_per_minute, pool.fits) == (
        185_000,
        15_000,
        True,
    )
    assert pool.family == "gpt-6-luna"


def test_scenario__batch_tier_halves_and_says_it_waits():
    s = scenario(tier="batch")
    assert s.estimate.cost_per_month_usd == D("37.5")
    assert any("24 hours" in w for w in s.warnings)


def test_scenario__absolute_tokens_and_no_known_limit():
    s = price_scenario(
        today=today_cost(),
        traffic=TRAFFIC,
        scenario=ScenarioInput(model="gpt-5.6-luna", added_prompt_tokens=500),
        replacement=resolve("gpt-5.6-luna"),
        book=BOOK,
        as_of=TODAY,
        tokens_per_minute_limit=None,
        existing_peak_tokens_per_minute=0,
    )
    # 700 x $0.20/1M + 100 x $1.20/1M = $0.00026 a request.
    assert s.estimate.cost_per_request_usd == D("0.00026")
    assert (s.pool.fits, s.pool.headroom_tokens_per_minute) == (None, None)


def test_prompt_after_migration__refuses_both_or_a_full_cut():
    with pytest.raises(InvalidEstimateInputError):
        prompt_after_migration(
            D(200), ScenarioInput("x", added_prompt_tokens=1, prompt_cut=D("0.5"))
        )
    with pytest.raises(InvalidEstimateInputError):
        prompt_after_migration(D(200), ScenarioInput("x", prompt_cut=D(1)))


def test_last_fine_tune__pays_for_itself_before_the_base_shuts_down():
    training = estimate_training(
        model=resolve("gpt-4o-mini"), book=BOOK, as_of=TODAY, billing_tokens=1_000_000, n_epochs=3
    )
    assert training.cost_usd == D(9)
    result = last_fine_tune(
        training=training,
        fine_tuned_today=today_cost(),
        cheapest_alternative=scenario().estimate,
        shutdown_date=date(2027, 1, 14),
        as_of=TODAY,
    )
    # $2.50 - $1.80 = $0.70 a day saved for 39 days = $27.30, less $9 of training.
    assert (result.serves_days, result.saving_per_day_usd) == (39, D("0.70"))
    assert (result.total_saving_usd, result.pays_for_itself) == (D("18.30"), True)
