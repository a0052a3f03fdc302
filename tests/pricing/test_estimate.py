from datetime import date
from decimal import Decimal

import pytest

from pricing.catalogue import load_catalogue
from pricing.errors import InvalidEstimateInputError, NotFineTunableError, UnknownPriceError
from pricing.estimate import (
    Workload,
    compare_scenarios,
    default_epochs,
    estimate_inference,
    estimate_training,
    shortened_prompt,
)
from pricing.prices import Override, load_builtin_price_book

SEED_DAY = date(2023, 9, 1)
TOY_LENGTHS = [45, 111, 26, 28, 8032]


@pytest.fixture(scope="module")
def book():
    return load_builtin_price_book()


def resolve(name, as_of=SEED_DAY):
    return load_catalogue().resolve(name, as_of=as_of)


def test_training__seed_example_100k_tokens_3_epochs_costs_2_40(book):
    e = estimate_training(
        model=resolve("gpt-3.5-turbo"),
        book=book,
        as_of=SEED_DAY,
        billing_tokens=100_000,
        n_epochs=3,
    )
    assert e.cost_usd == Decimal("2.40")
    assert e.price_version == "2023-08-22"
    assert e.charged_tokens == 300_000


def test_training__cookbook_toy_lengths_with_4096_cap(book):
    e = estimate_training(
        model=resolve("gpt-3.5-turbo-0613"), book=book, as_of=SEED_DAY, token_lengths=TOY_LENGTHS
    )
    assert (e.billing_tokens, e.n_epochs, e.charged_tokens) == (4306, 20, 86_120)
    assert e.epochs_auto
    assert any("truncated" in w for w in e.warnings)


def test_training__cookbook_toy_lengths_with_16385_cap(book):
    e = estimate_training(
        model=resolve("gpt-3.5-turbo-0125", date(2024, 3, 1)),
        book=book,
        as_of=date(2024, 3, 1),
        token_lengths=TOY_LENGTHS,
    )
    assert (e.billing_tokens, e.n_epochs, e.charged_tokens) == (8242, 20, 164_840)


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(5, 20), (1, 25), (33, 3), (34, 3), (100, 3), (8_333, 3), (8_334, 2), (30_000, 1)],
)
def test_default_epochs__rule(n, epochs):
    assert default_epochs(n) == epochs


def test_training__gpt4_fine_tuning_price_unknown_names_override(book):
    with pytest.raises(UnknownPriceError) as err:
        estimate_training(
            model=resolve("gpt-4", date(2024, 1, 1)),
            book=book,
            as_of=date(2024, 1, 1),
            billing_tokens=1000,
            n_epochs=1,
        )
    assert "override" in str(err.value)


def test_training__override_supplies_gpt4_contract_price(book):
    contract = Override("gpt-4-0613", "usd_per_1m_training_tokens", Decimal("90"))
    e = estimate_training(
        model=resolve("gpt-4", date(2024, 1, 1)),
        book=book,
        as_of=date(2024, 1, 1),
        billing_tokens=1_000_000,
        n_epochs=2,
        overrides=[contract],
    )
    assert e.cost_usd == Decimal("180")
    assert e.price_source == "override"


def test_training__not_fine_tunable(book):
    with pytest.raises(NotFineTunableError):
        estimate_training(model=resolve("gpt-4-32k"), book=book, as_of=SEED_DAY, billing_tokens=10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"billing_tokens": -1},
        {"billing_tokens": 10, "n_epochs": 0},
        {"billing_tokens": 10, "n_epochs": 51},
        {},
    ],
)
def test_training__invalid_inputs(book, kwargs):
    with pytest.raises(InvalidEstimateInputError):
        estimate_training(model=resolve("gpt-3.5-turbo"), book=book, as_of=SEED_DAY, **kwargs)


def test_training__fine_tuning_a_fine_tune_prices_by_base(book):
    e = estimate_training(
        model=resolve("ft:gpt-3.5-turbo-0613:acme::abc"),
        book=book,
        as_of=SEED_DAY,
        billing_tokens=1_000_000,
        n_epochs=1,
    )
    assert e.cost_usd == Decimal("8")


def test_inference__per_request_day_month(book):
    e = estimate_inference(
        model=resolve("gpt-3.5-turbo"),
        workload=Workload(1500, 200, 10_000),
        book=book,
        as_of=SEED_DAY,
    )
    assert e.cost_per_request_usd == Decimal("0.00265")  # 1500*1.5/1M + 200*2/1M
    assert e.cost_per_day_usd == Decimal("26.5")
    assert e.cost_per_month_usd == Decimal("795")


def test_inference__fine_tuned_name_uses_fine_tuned_prices_after_devday(book):
    e = estimate_inference(
        model=resolve("ft:gpt-3.5-turbo-0613:acme::x", date(2024, 1, 1)),
        workload=Workload(1_000_000, 1_000_000, 1),
        book=book,
        as_of=date(2024, 1, 1),
    )
    assert e.cost_per_request_usd == Decimal("9")  # $3 + $6


def test_scenarios__fine_tune_with_short_prompt_vs_base_vs_gpt4_break_even(book):
    ft_name = "ft:gpt-3.5-turbo-0613:acme::x"
    as_of = date(2024, 1, 1)
    base = estimate_inference(
        model=resolve("gpt-3.5-turbo", as_of),
        workload=Workload(1500, 200, 1000),
        book=book,
        as_of=as_of,
        name="base few-shot",
    )
    ft = estimate_inference(
        model=resolve(ft_name, as_of),
        workload=Workload(shortened_prompt(1500, Decimal("0.9")), 200, 1000),
        book=book,
        as_of=as_of,
        name="fine-tuned",
    )
    gpt4 = estimate_inference(
        model=resolve("gpt-4", as_of),
        workload=Workload(1500, 200, 1000),
        book=book,
        as_of=as_of,
        name="gpt-4",
    )
    training = estimate_training(
        model=resolve(ft_name, as_of), book=book, as_of=as_of, billing_tokens=100_000, n_epochs=3
    )
    result = compare_scenarios([base, ft, gpt4], training=training)
    by_name = {b.against: b for b in result.break_even}
    # base: 1500*1.5 + 200*2 = 2650 micro$; ft: 150*3 + 200*6 = 1650 micro$
    # -> saves $0.001 per request
    assert by_name["base few-shot"].saving_per_request_usd == Decimal("0.001")
    assert by_name["base few-shot"].requests == 2400  # $2.40 / $0.001
    assert by_name["base few-shot"].days == Decimal("2.4")
    assert by_name["gpt-4"].requests is not None and by_name["gpt-4"].requests < 2400


def test_break_even__never_when_fine_tune_costs_more(book):
    as_of = date(2023, 9, 1)  # before DevDay, fine-tuned usage cost 8x base input
    base = estimate_inference(
        model=resolve("gpt-3.5-turbo"), workload=Workload(200, 200, 100), book=book, as_of=as_of
    )
    ft = estimate_inference(
        model=resolve("ft:gpt-3.5-turbo-0613:a::b"),
        workload=Workload(200, 200, 100),
        book=book,
        as_of=as_of,
    )
    training = estimate_training(
        model=resolve("gpt-3.5-turbo"), book=book, as_of=as_of, billing_tokens=1000, n_epochs=1
    )
    (b,) = compare_scenarios([base, ft], training=training).break_even
    assert b.never and b.requests is None


def test_workload__negative_refused():
    with pytest.raises(InvalidEstimateInputError):
        Workload(-1, 0, 0)
