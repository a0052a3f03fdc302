from decimal import Decimal

import pytest

from pricing.money import cost_of_tokens, display_usd, format_usd, to_decimal


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("2.4", "2.40"),
        ("0.000075", "0.000075"),
        ("12", "12.00"),
        ("0.0000005", "0.00"),
        ("0.0000015", "0.000002"),
        ("0.68896", "0.68896"),
    ],
)
def test_format_usd__rounds_once_half_even_to_millionths(amount, text):
    assert format_usd(Decimal(amount)) == text


def test_display_usd__two_places_with_grouping():
    assert display_usd(Decimal("17100")) == "$17,100.00"
    assert display_usd(Decimal("0.685")) == "$0.68"  # half-even


def test_to_decimal__refuses_floats_and_nan():
    with pytest.raises(TypeError):
        to_decimal(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        to_decimal("NaN")


def test_cost_of_tokens__exact():
    assert cost_of_tokens(3, Decimal("0.10")) == Decimal("0.0000003")
