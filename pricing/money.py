"""Money is Decimal end to end; this module holds the one rounding rule.

Rule: amounts are computed exactly and rounded once, at the edge (JSON, CSV, CLI output,
database), to 6 decimal places (a millionth of a dollar) with ROUND_HALF_EVEN. Six places keep
per-request costs of cheap models visible (1,000 tokens at $0.10/1M = $0.0001) while totals
stay exact to the cent. Displays for people (Slack) additionally show 2 places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

USD_QUANTUM = Decimal("0.000001")
CENT = Decimal("0.01")
ONE_MILLION = Decimal(1_000_000)


def to_decimal(value: str | int | Decimal) -> Decimal:
    """Parse a money or price value; floats are refused because they are already inexact."""
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a decimal string")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite decimal number: {value!r}")
    return result


def round_usd(amount: Decimal) -> Decimal:
    """The single rounding step applied at the edge."""
    return amount.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)


def format_usd(amount: Decimal) -> str:
    """Edge representation for JSON/CSV: a plain decimal string, never exponent form.

    Rounded to 6 places, then trailing zeros beyond the cents are dropped so that $2.40 reads
    "2.40" and $0.000075 reads "0.000075"; the same amount always gives the same string.
    """
    text = f"{round_usd(amount):f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


def display_usd(amount: Decimal) -> str:
    """Human display with 2 decimals, e.g. '$2.40'."""
    cents = amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return f"${cents:,.2f}"


def cost_of_tokens(tokens: int | Decimal, usd_per_1m_tokens: Decimal) -> Decimal:
    """Exact cost of a token count at a per-1M price."""
    return Decimal(tokens) * usd_per_1m_tokens / ONE_MILLION
