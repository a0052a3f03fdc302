"""Parsing of the ``x-ratelimit-*`` response headers OpenAI sends with every API response.

OpenAI reports, per organisation and model family::

    x-ratelimit-limit-requests: 3500        x-ratelimit-limit-tokens: 90000
    x-ratelimit-remaining-requests: 3499    x-ratelimit-remaining-tokens: 89000
    x-ratelimit-reset-requests: 17ms        x-ratelimit-reset-tokens: 6m0s

Resets are Go-style durations (``1h2m3.5s``, ``6m0s``, ``1s``, ``12ms``). Header names are
case-insensitive (HTTP); headers that are not rate-limit headers are ignored, so a client may send
every header it saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from service.errors import InvalidInput

PREFIX = "x-ratelimit-"
_FIELDS = {
    "limit-requests": "limit_requests",
    "limit-tokens": "limit_tokens",
    "remaining-requests": "remaining_requests",
    "remaining-tokens": "remaining_tokens",
    "reset-requests": "reset_requests",
    "reset-tokens": "reset_tokens",
}
_UNIT_SECONDS = {
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
    "us": Decimal("0.000001"),
    "µs": Decimal("0.000001"),
    "μs": Decimal("0.000001"),
    "ns": Decimal("0.000000001"),
}
# Longest units first so "ms" is not read as "m" followed by garbage.
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|μs|ns|h|m|s)")
_MAX_COUNT = 10**12
_MAX_DURATION_SECONDS = Decimal(2 * 86400)


class HeaderError(InvalidInput):
    """A rate-limit header whose value cannot be understood."""


@dataclass(frozen=True)
class RateLimitHeaders:
    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: timedelta | None = None
    reset_tokens: timedelta | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in _FIELDS.values())


def parse_duration(text: str) -> timedelta:
    """A Go duration string as OpenAI writes resets: ``6m0s``, ``1s``, ``12ms``, ``1h2m3.5s``."""
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    pos = 0
    total = Decimal(0)
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += Decimal(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(value) or pos == 0:
        if value == "0":  # Go prints a zero duration as a bare "0"
            return timedelta(0)
        raise ValueError(f"not a duration: {text!r} (expected e.g. 6m0s, 1s, 12ms)")
    if total > _MAX_DURATION_SECONDS:
        raise ValueError(f"duration {text!r} is longer than a rate-limit window can be")
    return timedelta(microseconds=int((total * 1_000_000).to_integral_value()))


def _count(name: str, text: str) -> int:
    value = text.strip()
    if not value.isdigit() or int(value) > _MAX_COUNT:
        raise HeaderError(
            f"header {name} must be a whole number of at most {_MAX_COUNT:,}; got {text!r}",
            code="bad_header",
            header=name,
        )
    return int(value)


def parse_ratelimit_headers(headers: dict[str, str]) -> RateLimitHeaders:
    """Pick the rate-limit headers out of a response's headers (names in any case)."""
    values: dict[str, object] = {}
    for raw_name, raw_value in headers.items():
        name = raw_name.strip().lower()
        if not name.startswith(PREFIX):
            continue
        field = _FIELDS.get(name[len(PREFIX) :])
        if field is None:
            continue  # e.g. per-project or usage-based variants this service does not model
        text = str(raw_value)
        if field.startswith("reset_"):
            try:
                values[field] = parse_duration(text)
            except ValueError as exc:
                raise HeaderError(f"header {name}: {exc}", code="bad_header", header=name) from None
        else:
            values[field] = _count(name, text)
    parsed = RateLimitHeaders(**values)  # type: ignore[arg-type]
    if parsed.empty:
        raise HeaderError(
            "no x-ratelimit-* headers found; expected x-ratelimit-limit-tokens, "
            "x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens and the -requests variants",
            code="no_ratelimit_headers",
        )
    return parsed
