"""Argument types and checks of the ``ratecard`` command.

The CLI holds the same limits as the REST API by validating with the API's own request schemas,
and every refusal is one line on stderr with exit code 2 (usage) or 3 (invalid data).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn

from pydantic import BaseModel, TypeAdapter, ValidationError

from pricing.estimate import Epochs

EXIT_USAGE = 2
EXIT_INVALID_DATA = 3


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def one_line(text: str) -> str:
    """A message fit for one stderr line: no newlines, no NULs, no terminal control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def parse_epochs(text: str) -> Epochs:
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"epochs must be a whole number or 'auto', not {text!r}"
        ) from None


def parse_hours(text: str) -> Decimal:
    """Hours of training as a plain decimal (2.5); the request schema bounds it afterwards."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 20 or not all(c.isdigit() or c == "." for c in cleaned):
        raise argparse.ArgumentTypeError(f"not a number of hours (e.g. 2.5): {text!r}")
    try:
        return Decimal(cleaned)
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"not a number of hours (e.g. 2.5): {text!r}") from None


def parse_non_negative_int(text: str) -> int:
    cleaned = text.strip().replace("_", "").replace(",", "")
    if cleaned.startswith("-") and cleaned[1:].isascii() and cleaned[1:].isdigit():
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    if not (cleaned.isascii() and cleaned.isdigit()):
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    if len(cleaned) > 100:  # int() refuses beyond 4,300 digits; the schema bounds come later
        raise argparse.ArgumentTypeError(f"far too large: {text[:20]}... ({len(cleaned)} digits)")
    return int(cleaned)


def parse_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("override must look like usd_per_1m_training_tokens=25.00")
    return key.strip(), value.strip()


def check_request(schema: type[BaseModel], flags: dict[str, str], **values: Any) -> None:
    """Refuse what the REST API would refuse, naming the CLI flag and the API's limit."""
    try:
        schema.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        named = [flags[str(part)] for part in first["loc"] if str(part) in flags]
        where = named[0] if named else ".".join(str(part) for part in first["loc"])
        raise CliError(f"{where}: {first['msg']}" if where else first["msg"]) from None


def override_price(price_field: str, value: str) -> Decimal:
    """A contract price as POST /v1/prices/overrides takes it (a plain decimal string)."""
    from service.prices.schemas import DecimalStr

    try:
        TypeAdapter(DecimalStr).validate_python(value)
    except ValidationError:
        raise CliError(
            f"override {price_field}: not a price in USD per 1M tokens "
            f"(up to 9 digits, optional decimals, e.g. 25.00): {value!r}"
        ) from None
    return Decimal(value)
