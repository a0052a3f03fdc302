from datetime import date
from decimal import Decimal

import pytest

from pricing.errors import (
    InvalidPriceTableError,
    ModelNotAvailableError,
    PriceVersionConflictError,
    UnknownPriceError,
    UnknownPriceVersionError,
)
from pricing.prices import (
    Override,
    PriceChange,
    apply_changes,
    load_builtin_price_book,
    parse_version,
    version_to_dict,
)

D = Decimal


@pytest.fixture(scope="module")
def book():
    return load_builtin_price_book()


def per_1k(value: str) -> Decimal:
    return D(value) * 1000


def test_history__ships_2023_03_01_through_2026_12_01(book):
    ids = [v.version for v in book.versions]
    assert ids[0] == "2023-03-01"
    assert ids[-1] == "2026-12-01"
    assert "2023-08-22" in ids and "2023-11-06" in ids
    assert all(v.source for v in book.versions)


def test_seed_version_2023_08_22_matches_announcement_to_the_digit(book):
    v = book.get("2023-08-22")
    p = {m: v.models[m].prices for m in v.models}
    assert p["gpt-3.5-turbo-0613"]["usd_per_1m_input_tokens"] == per_1k("0.0015")
    assert p["gpt-3.5-turbo-0613"]["usd_per_1m_output_tokens"] == per_1k("0.002")
    assert p["gpt-3.5-turbo-16k-0613"]["usd_per_1m_input_tokens"] == per_1k("0.003")
    assert p["gpt-3.5-turbo-16k-0613"]["usd_per_1m_output_tokens"] == per_1k("0.004")
    assert p["gpt-4-0613"]["usd_per_1m_input_tokens"] == per_1k("0.03")
    assert p["gpt-4-0613"]["usd_per_1m_output_tokens"] == per_1k("0.06")
    assert p["gpt-4-32k-0613"]["usd_per_1m_input_tokens"] == per_1k("0.06")
    assert p["gpt-4-32k-0613"]["usd_per_1m_output_tokens"] == per_1k("0.12")
    ft = p["gpt-3.5-turbo-0613"]
    assert ft["usd_per_1m_training_tokens"] == per_1k("0.008")
    assert ft["usd_per_1m_ft_input_tokens"] == per_1k("0.012")
    assert ft["usd_per_1m_ft_output_tokens"] == per_1k("0.016")
    b = p["babbage-002"]
    assert (b["usd_per_1m_input_tokens"], b["usd_per_1m_output_tokens"]) == (
        per_1k("0.0004"),
        per_1k("0.0004"),
    )
    assert b["usd_per_1m_training_tokens"] == per_1k("0.0004")
    assert (b["usd_per_1m_ft_input_tokens"], b["usd_per_1m_ft_output_tokens"]) == (
        per_1k("0.0016"),
        per_1k("0.0016"),
    )
    d = p["davinci-002"]
    assert (d["usd_per_1m_input_tokens"], d["usd_per_1m_output_tokens"]) == (
        per_1k("0.002"),
        per_1k("0.002"),
    )
    assert d["usd_per_1m_training_tokens"] == per_1k("0.006")
    assert (d["usd_per_1m_ft_input_tokens"], d["usd_per_1m_ft_output_tokens"]) == (
        per_1k("0.012"),
        per_1k("0.012"),
    )


def test_devday_version_cuts_fine_tuned_usage(book):
    ft = book.get("2023-11-06").models["gpt-3.5-turbo-0613"].prices
    assert ft["usd_per_1m_ft_input_tokens"] == per_1k("0.003")
    assert ft["usd_per_1m_ft_output_tokens"] == per_1k("0.006")
    assert ft["usd_per_1m_training_tokens"] == per_1k("0.008")


def test_lookup__as_of_returns_version_in_force(book):
    assert book.in_force(date(2023, 11, 5)).version == "2023-08-22"
    assert book.in_force(date(2023, 11, 6)).version == "2023-11-06"
    assert book.in_force(date(2030, 1, 1)).version == "2026-12-01"


def test_lookup__before_first_version(book):
    with pytest.raises(UnknownPriceVersionError):
        book.in_force(date(2022, 12, 31))


def test_rows_keep_their_source(book):
    sources = book.get("2023-08-22").models["gpt-3.5-turbo-0613"].sources
    assert "S2" in sources["training"]


def test_gpt4_fine_tuning_price_is_unknown_not_zero_or_base(book):
    quote = book.quote("gpt-4-0613", as_of=date(2024, 6, 1))
    assert quote.prices.get("usd_per_1m_training_tokens") is None
    with pytest.raises(UnknownPriceError) as err:
        quote.require("usd_per_1m_training_tokens")
    assert "override" in str(err.value)


def test_override__layers_over_public_table(book):
    contract = Override(
        "gpt-4-0613", "usd_per_1m_training_tokens", D("90.00"), note="contract 2024"
    )
    quote = book.quote("gpt-4-0613", as_of=date(2024, 6, 1), overrides=[contract])
    assert quote.require("usd_per_1m_training_tokens") == D("90.00")
    assert quote.source_of("usd_per_1m_training_tokens") == "override"
    assert quote.source_of("usd_per_1m_input_tokens") == "public"


def test_override__outside_its_dates_is_ignored(book):
    contract = Override(
        "gpt-4-0613", "usd_per_1m_training_tokens", D("90"), effective_from=date(2025, 1, 1)
    )
    quote = book.quote("gpt-4-0613", as_of=date(2024, 6, 1), overrides=[contract])
    assert quote.prices.get("usd_per_1m_training_tokens") is None


def test_quote__model_not_released_yet(book):
    with pytest.raises(ModelNotAvailableError):
        book.quote("gpt-4o-2024-05-13", as_of=date(2023, 9, 1))


def test_diff__devday(book):
    changes = {(c.model, c.field): (c.old, c.new) for c in book.diff("2023-08-22", "2023-11-06")}
    assert changes[("gpt-3.5-turbo-0613", "usd_per_1m_ft_input_tokens")] == (D("12.00"), D("3.00"))
    assert changes[("gpt-3.5-turbo-1106", "usd_per_1m_input_tokens")] == (None, D("1.00"))
    assert ("gpt-4-0613", "usd_per_1m_input_tokens") not in changes


def _version(version="2027-01-01", effective="2027-01-01", price="1.00"):
    return {
        "version": version,
        "effective_date": effective,
        "source": "test",
        "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": price}},
    }


def test_publish__appends_new_version(book):
    newer = book.with_version(parse_version(_version()))
    assert newer.latest.version == "2027-01-01"
    assert book.latest.version == "2026-12-01"  # the original book is untouched


def test_publish__existing_version_is_immutable(book):
    with pytest.raises(PriceVersionConflictError):
        book.with_version(parse_version(_version(version="2023-08-22")))


def test_publish__effective_date_before_latest_refused(book):
    with pytest.raises(InvalidPriceTableError):
        book.with_version(parse_version(_version(effective="2024-01-01")))


@pytest.mark.parametrize("price", ["-1", "abc", "NaN"])
def test_publish__bad_prices_refused(price):
    with pytest.raises(InvalidPriceTableError):
        parse_version(_version(price=price))


def test_publish__float_prices_refused():
    data = _version()
    data["models"]["gpt-4o-mini-2024-07-18"]["usd_per_1m_input_tokens"] = 0.1
    with pytest.raises(InvalidPriceTableError):
        parse_version(data)


def test_apply_changes__unlisted_prices_carry_over(book):
    base = book.latest
    v = apply_changes(
        base,
        {
            "version": "2026-12-15",
            "effective_date": "2026-12-15",
            "source": "https://example.invalid/pricing",
            "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "0.12"}},
        },
        published_by="admin",
    )
    mini = v.models["gpt-4o-mini-2024-07-18"].prices
    assert mini["usd_per_1m_input_tokens"] == Decimal("0.12")
    old_mini = base.models["gpt-4o-mini-2024-07-18"].prices
    assert {k: p for k, p in mini.items() if k != "usd_per_1m_input_tokens"} == {
        k: p for k, p in old_mini.items() if k != "usd_per_1m_input_tokens"
    }
    assert {m: mp.prices for m, mp in v.models.items() if m != "gpt-4o-mini-2024-07-18"} == {
        m: mp.prices for m, mp in base.models.items() if m != "gpt-4o-mini-2024-07-18"
    }
    assert book.with_version(v).diff(base.version, "2026-12-15") == [
        PriceChange(
            "gpt-4o-mini-2024-07-18",
            "usd_per_1m_input_tokens",
            old_mini["usd_per_1m_input_tokens"],
            Decimal("0.12"),
        )
    ]


def test_apply_changes__null_withdraws_a_price_or_a_model(book):
    v = apply_changes(
        book.latest,
        {
            "version": "w",
            "effective_date": "2026-12-15",
            "models": {
                "babbage-002": None,
                "davinci-002": {"usd_per_1m_training_tokens": None},
            },
        },
        published_by="admin",
    )
    assert "babbage-002" not in v.models
    assert "usd_per_1m_training_tokens" not in v.models["davinci-002"].prices
    assert v.models["davinci-002"].prices["usd_per_1m_input_tokens"] == Decimal("2.00")


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"gpt-9": None}, "cannot withdraw"),
        ({"davinci-002": {}}, "list the price fields"),
        ({"davinci-002": {"usd_per_1m_pennies": "1"}}, "unknown price field"),
        ({"davinci-002": {"usd_per_1m_input_tokens": "-1"}}, "must not be negative"),
        ({}, "non-empty"),
    ],
)
def test_apply_changes__refuses_bad_change_sets(book, models, message):
    with pytest.raises(InvalidPriceTableError, match=message):
        apply_changes(
            book.latest,
            {"version": "x", "effective_date": "2026-12-15", "models": models},
            published_by="admin",
        )


def test_version_to_dict__round_trips_through_parse_version(book):
    for v in book.versions:
        again = parse_version(version_to_dict(v), published_by=v.published_by)
        assert again == v
