"""Parsing of OpenAI's x-ratelimit-* headers (pure; no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.errors import InvalidInput
from service.usage.headers import parse_duration, parse_ratelimit_headers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("6m0s", timedelta(minutes=6)),
        ("1s", timedelta(seconds=1)),
        ("12ms", timedelta(milliseconds=12)),
        ("1h2m3.5s", timedelta(hours=1, minutes=2, seconds=3.5)),
        ("8.64s", timedelta(seconds=8, milliseconds=640)),
        ("1m30.123s", timedelta(minutes=1, seconds=30, milliseconds=123)),
        ("0s", timedelta(0)),
        ("0", timedelta(0)),
        ("250us", timedelta(microseconds=250)),
        ("1500ns", timedelta(microseconds=2)),  # rounded to the microsecond
        (" 2m ", timedelta(minutes=2)),
    ],
)
def test_duration__go_style(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "6", "6x", "m", "1m-2s", "-1s", "1.2.3s", "s1", "1s 2ms", "999999h"]
)
def test_duration__rejects_what_is_not_a_duration(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_headers__names_are_case_insensitive_and_others_ignored():
    parsed = parse_ratelimit_headers(
        {
            "X-RateLimit-Limit-Requests": "3500",
            "x-ratelimit-limit-tokens": "90000",
            "X-RATELIMIT-REMAINING-REQUESTS": "3499",
            "x-ratelimit-remaining-tokens": "89000",
            "x-ratelimit-reset-requests": "17ms",
            "x-ratelimit-reset-tokens": "6m0s",
            "content-type": "application/json",
            "openai-processing-ms": "123",
        }
    )
    assert (parsed.limit_requests, parsed.limit_tokens) == (3500, 90000)
    assert (parsed.remaining_requests, parsed.remaining_tokens) == (3499, 89000)
    assert parsed.reset_requests == timedelta(milliseconds=17)
    assert parsed.reset_tokens == timedelta(minutes=6)


@pytest.mark.parametrize(
    "headers, code",
    [
        ({"content-type": "application/json"}, "no_ratelimit_headers"),
        ({"x-ratelimit-limit-tokens": "lots"}, "bad_header"),
        ({"x-ratelimit-limit-tokens": "-5"}, "bad_header"),
        ({"x-ratelimit-remaining-tokens": "1.5"}, "bad_header"),
        ({"x-ratelimit-reset-tokens": "soon"}, "bad_header"),
    ],
)
def test_headers__unreadable_values_are_invalid_input(headers, code):
    with pytest.raises(InvalidInput) as info:
        parse_ratelimit_headers(headers)
    assert info.value.extra["code"] == code
