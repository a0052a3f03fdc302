"""Estimates at today's prices: tiers, caching, long context, methods, promotions, lifecycle."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from pricing.catalogue import load_catalogue
from pricing.errors import InvalidEstimateInputError, NotFineTunableError, UnknownPriceError
from pricing.estimate import Workload, estimate_inference, estimate_training
from pricing.lifecycle import load_lifecycle
from pricing.prices import load_builtin_price_book
from pricing.promotions import load_promotions

TODAY = date(2026, 12, 6)
BOOK = load_builtin_price_book()


def resolve(name: str, as_of: date = TODAY):
    return load_catalogue().resolve(name, as_of=as_of)


def inference(name: str, workload: Workload, *, tier: str = "standard", as_of: date = TODAY):
    return estimate_inference(
        model=resolve(name, as_of),
        workload=workload,
        book=BOOK,
        as_of=as_of,
        tier=tier,
        lifecycle=load_lifecycle(),
    )


def test_inference__gpt6_luna_standard_by_hand():
    # 2,000 prompt tokens at $0.10/1M + 300 output at $0.50/1M = $0.00035 a request.
    e = inference("gpt-6-luna", Workload(2000, 300, 10_000))
    assert e.cost_per_request_usd == D("0.00035")
    assert e.cost_per_month_usd == D("105.000")
    assert (e.tier, e.long_context, e.warnings) == ("standard", False, ())


@pytest.mark.parametrize(
    ("tier", "per_request"),
    [("batch", "0.000175"), ("flex", "0.000175"), ("priority", "0.0007"), ("fast", "0.0007")],
)
def test_inference__tiers_have_prices_of_their_own(tier, per_request):
    e = inference("gpt-6-luna", Workload(2000, 300, 1), tier=tier)
    assert e.cost_per_request_usd == D(per_request)


def test_inference__cached_and_cache_write_tokens():
    # gpt-6-luna: 1,000 uncached at 0.10, 800 cached at 0.01, 200 written at 0.125, 300 out at 0.50.
    e = inference(
        "gpt-6-luna", Workload(2000, 300, 1, cached_prompt_tokens=800, cache_write_tokens=200)
    )
    expected = (D(1000) * D("0.10") + 800 * D("0.01") + 200 * D("0.125") + 300 * D("0.50")) / 10**6
    assert e.cost_per_request_usd == expected


def test_inference__cache_writes_bill_as_input_before_gpt_5_6():
    plain = inference("gpt-4.1", Workload(2000, 0, 1))
    written = inference("gpt-4.1", Workload(2000, 0, 1, cache_write_tokens=1000))
    assert plain.cost_per_request_usd == written.cost_per_request_usd


def test_inference__long_context_bills_the_whole_request_at_the_higher_step():
    at = inference("gpt-5.5", Workload(272_000, 1000, 1), as_of=TODAY)
    over = inference("gpt-5.5", Workload(272_001, 1000, 1), as_of=TODAY)
    assert at.cost_per_request_usd == (272_000 * D(5) + 1000 * D(30)) / 10**6
    assert over.long_context
    assert over.cost_per_request_usd == (272_001 * D(10) + 1000 * D(45)) / 10**6
    assert "long-context" in over.warnings[0]


def test_inference__unpublished_tier_is_unknown_not_zero():
    with pytest.raises(UnknownPriceError):
        inference("gpt-6.2-sol", Workload(100, 100, 1), tier="flex")
    with pytest.raises(InvalidEstimateInputError, match="standard and batch"):
        inference("ft:gpt-4o-mini-2024-07-18:acme::x", Workload(100, 100, 1), tier="flex")
    with pytest.raises(InvalidEstimateInputError, match="unknown processing tier"):
        inference("gpt-6-luna", Workload(100, 100, 1), tier="turbo")


def test_inference__fine_tuned_gpt_4o_mini_batch_bills_cached_tokens_at_0_075():
    # Reference section 4c: ft:gpt-4o-mini Batch $0.15 input, $0.075 cached, $0.60 output.
    workload = Workload(2000, 300, 10, cached_prompt_tokens=1200)
    for as_of in (date(2024, 10, 1), date(2025, 6, 1), TODAY):
        e = inference("ft:gpt-4o-mini-2024-07-18:acme::x", workload, tier="batch", as_of=as_of)
        assert e.usd_per_1m_cached_input_tokens == D("0.075")
        expected = (800 * D("0.15") + 1200 * D("0.075") + 300 * D("0.60")) / 10**6
        assert (e.tier, e.cost_per_request_usd) == ("batch", expected)
        assert e.cost_per_day_usd == expected * 10


@pytest.mark.parametrize(
    ("name", "as_of", "usd_in", "usd_out", "version"),
    [
        # Reference section 4c: ft:gpt-4o-mini Batch $0.15 / $0.60 from its launch on 2024-07-23.
        ("ft:gpt-4o-mini-2024-07-18:acme::x", date(2024, 8, 1), "0.15", "0.60", "2024-07-23"),
        # ft:gpt-4o from 2024-08-20 at half of $3.75 / $15, the rule its 2024-10-01 row keeps (9.4).
        ("ft:gpt-4o-2024-08-06:acme::x", date(2024, 9, 1), "1.875", "7.50", "2024-08-20"),
    ],
)
def test_inference__fine_tuned_batch_priced_from_the_fine_tunes_launch(
    name, as_of, usd_in, usd_out, version
):
    e = inference(name, Workload(2000, 300, 10), tier="batch", as_of=as_of)
    expected = (2000 * D(usd_in) + 300 * D(usd_out)) / 10**6
    assert (e.tier, e.price_version, e.usd_per_1m_input_tokens) == ("batch", version, D(usd_in))
    assert (e.cost_per_request_usd, e.cost_per_day_usd) == (expected, expected * 10)
    standard = inference(name, Workload(2000, 300, 10), as_of=as_of)
    assert e.cost_per_request_usd * 2 == standard.cost_per_request_usd


@pytest.mark.parametrize(
    ("name", "day_before", "version"),
    [
        ("ft:gpt-4o-mini-2024-07-18:acme::x", date(2024, 7, 22), "2024-07-18"),
        ("ft:gpt-4o-2024-08-06:acme::x", date(2024, 8, 19), "2024-08-06"),
    ],
)
def test_inference__fine_tuned_batch_is_unknown_the_day_before_the_fine_tunes_launch(
    name, day_before, version
):
    with pytest.raises(UnknownPriceError) as raised:
        inference(name, Workload(2000, 300, 1), tier="batch", as_of=day_before)
    assert (raised.value.version, raised.value.field) == (
        version,
        "usd_per_1m_ft_batch_input_tokens",
    )


@pytest.mark.parametrize(
    ("tier", "unknown_field"),
    [
        ("standard", "usd_per_1m_ft_cached_input_tokens"),
        ("batch", "usd_per_1m_ft_batch_cached_input_tokens"),
    ],
)
def test_inference__fine_tuned_cached_tokens_are_unknown_before_prompt_caching(tier, unknown_field):
    # Prompt caching launched on 2024-10-01: the day before, no fine-tuned cached price on either
    # tier, so cached tokens are a clear unknown (a 422 from the API), never billed at zero.
    workload = Workload(2000, 300, 1, cached_prompt_tokens=1200)
    with pytest.raises(UnknownPriceError) as raised:
        inference("ft:gpt-4o-mini-2024-07-18:acme::x", workload, tier=tier, as_of=date(2024, 9, 30))
    assert (raised.value.model, raised.value.version) == ("gpt-4o-mini-2024-07-18", "2024-09-12")
    assert raised.value.field == unknown_field


def test_inference__fine_tuned_model_warns_of_its_shutdown():
    e = inference("ft:gpt-4o-mini-2024-07-18:acme::x", Workload(1000, 100, 1))
    assert e.warnings == (
        "ft:gpt-4o-mini-2024-07-18:acme::x shuts down (with its base model) on 2027-01-14, "
        "39 days from 2026-12-06; OpenAI recommends gpt-6-luna",
    )
    gone = inference("ft:gpt-3.5-turbo-0125:acme::x", Workload(1000, 100, 1))
    assert "stopped answering on 2026-10-23" in gone.warnings[0]


def training(name: str, as_of: date, **kwargs):
    return estimate_training(
        model=resolve(name, as_of),
        book=BOOK,
        as_of=as_of,
        lifecycle=load_lifecycle(),
        promotions=load_promotions(),
        **kwargs,
    )


def test_training__free_allowance_in_august_2024_is_what_openai_charged():
    # 1.5M charged tokens on gpt-4o-mini: 2M a day were free, so nothing was billed.
    e = training("gpt-4o-mini", date(2024, 8, 1), billing_tokens=500_000, n_epochs=3)
    assert (e.free_training_tokens, e.cost_usd) == (1_500_000, D(0))
    assert e.promotion and "2M" in e.promotion
    # 3M on gpt-4o (1M free a day): 2M billed at $25/1M.
    e = training("gpt-4o-2024-08-06", date(2024, 10, 31), billing_tokens=1_000_000, n_epochs=3)
    assert (e.free_training_tokens, e.cost_usd) == (1_000_000, D(50))
    after = training("gpt-4o-2024-08-06", date(2024, 11, 1), billing_tokens=1_000_000, n_epochs=3)
    assert (after.free_training_tokens, after.cost_usd) == (0, D(75))


def test_training__reinforcement_is_billed_per_hour_for_an_assumed_duration():
    e = training(
        "o4-mini",
        date(2025, 6, 1),
        method="reinforcement",
        training_hours=D("2.5"),
        training_hours_max=D(4),
    )
    assert (e.cost_usd, e.cost_usd_max, e.usd_per_training_hour) == (D(250), D(400), D(100))
    assert any("your assumption" in w for w in e.warnings)
    with pytest.raises(InvalidEstimateInputError, match="per hour"):
        training("o4-mini", date(2025, 6, 1), method="reinforcement")


def test_training__method_must_be_offered():
    with pytest.raises(NotFineTunableError, match="does not offer supervised"):
        training("o4-mini", date(2025, 6, 1), billing_tokens=1000)
    with pytest.raises(NotFineTunableError):
        training("gpt-6-luna", TODAY, billing_tokens=1000)
    dpo = training("gpt-4.1", TODAY, billing_tokens=100_000, n_epochs=2, method="preference")
    assert (dpo.method, dpo.cost_usd) == ("preference", D(5))


def test_training__today_says_days_left_and_a_closed_model_warns_with_the_date():
    e = training("gpt-4.1-mini", TODAY, billing_tokens=100_000, n_epochs=3)
    assert any("until 2027-01-05 (31 days left)" in w for w in e.warnings)
    closed = training("davinci-002", TODAY, billing_tokens=100_000, n_epochs=3)
    assert any("closed on 2024-10-28" in w for w in closed.warnings)
