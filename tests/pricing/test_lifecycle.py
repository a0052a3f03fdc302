"""Model lifecycle as of a date: shutdowns, fine-tunes dying with their base, fine-tuning's end."""

from __future__ import annotations

from datetime import date

import pytest

from pricing.catalogue import load_catalogue
from pricing.errors import InvalidCatalogueEntryError
from pricing.lifecycle import load_lifecycle, parse_lifecycle

TODAY = date(2026, 12, 6)


def status(name: str, as_of: date = TODAY):
    resolved = load_catalogue().resolve(name, as_of=as_of)
    return load_lifecycle().status(resolved.model, as_of=as_of, fine_tuned=resolved.fine_tuned)


def verdict(name: str, method: str = "supervised", as_of: date = TODAY):
    model = load_catalogue().resolve(name, as_of=as_of).model
    return load_lifecycle().fine_tuning(model, method=method, as_of=as_of)


def test_status__gpt4o_mini_fine_tune_dies_with_its_base_on_2027_01_14():
    s = status("ft:gpt-4o-mini-2024-07-18:acme:support:abc123")
    assert (s.state, s.shutdown_date, s.days_left) == ("deprecated", date(2027, 1, 14), 39)
    assert s.replacement == "gpt-6-luna"


@pytest.mark.parametrize(
    "name",
    [
        "ft:gpt-3.5-turbo-0125:acme::x",
        "ft:gpt-4-0613:acme::x",
        "ft:babbage-002:acme::x",
        "ft:davinci-002:acme::x",
        "ft:gpt-4.1-nano-2025-04-14:acme::x",
        "ft:o4-mini-2025-04-16:acme::x",
        "ft:gpt-3.5-turbo-0613:acme::x",
    ],
)
def test_status__fine_tunes_shut_down_on_2026_10_23(name):
    s = status(name)
    assert (s.state, s.shutdown_date) == ("shut_down", date(2026, 10, 23))
    assert status(name, date(2026, 10, 22)).state == "deprecated"


def test_status__0613_base_went_in_2024_but_its_fine_tunes_served_until_2026():
    assert status("gpt-3.5-turbo-0613", date(2025, 1, 1)).state == "shut_down"
    assert status("ft:gpt-3.5-turbo-0613:acme::x", date(2025, 1, 1)).state == "deprecated"


def test_status__a_shutdown_is_unknown_before_its_announcement():
    before = status("gpt-4o-mini", date(2026, 10, 13))
    assert (before.state, before.shutdown_date, before.replacement) == ("available", None, None)
    assert status("gpt-4o-mini", date(2026, 10, 14)).shutdown_date == date(2027, 1, 14)


def test_status__not_released_yet():
    assert status("gpt-6-luna").state == "available"
    model = load_catalogue().models["gpt-6-luna"]
    assert load_lifecycle().status(model, as_of=date(2026, 9, 1)).state == "not_released"


def test_fine_tuning__davinci_refused_since_2024_10_28_with_replacement():
    v = verdict("davinci-002", as_of=date(2024, 10, 28))
    assert not v.accepted
    assert "closed on 2024-10-28" in v.reason
    assert verdict("davinci-002", as_of=date(2024, 10, 27)).accepted


def test_fine_tuning__today_says_how_many_days_remain():
    v = verdict("gpt-4o-mini")
    assert v.accepted
    assert (v.last_day, v.days_left) == (date(2027, 1, 5), 31)
    assert any("2027-01-05 (31 days left)" in w for w in v.warnings)


def test_fine_tuning__refused_from_2027_01_06_naming_the_replacement():
    v = verdict("gpt-4.1", as_of=date(2027, 1, 6))
    assert not v.accepted
    assert "2027-01-06" in v.reason and "gpt-6-luna" in v.reason


def test_fine_tuning__refused_after_the_base_shuts_down():
    v = verdict("gpt-4.1-nano", as_of=date(2026, 10, 23))
    assert not v.accepted and "shuts down on 2026-10-23" in v.reason


def test_fine_tuning__methods_follow_the_model():
    assert verdict("o4-mini", "reinforcement", date(2025, 6, 1)).accepted
    assert not verdict("o4-mini", "supervised", date(2025, 6, 1)).accepted
    assert not verdict("o4-mini", "reinforcement", date(2025, 5, 7)).accepted
    assert not verdict("gpt-5", "supervised", date(2025, 9, 1)).accepted
    preference = verdict("gpt-4.1", "preference", date(2025, 6, 1))
    assert preference.accepted
    assert any("not known" in w for w in preference.warnings)


def test_fine_tuning__wind_down_unknown_before_its_notice():
    v = verdict("gpt-4o-mini", as_of=date(2026, 5, 6))
    assert v.accepted and v.last_day is None
    assert not any("2027" in w for w in v.warnings)


def test_parse_lifecycle__refuses_models_outside_the_catalogue():
    data = {
        "shutdown": [{"models": ["gpt-9"], "announced": "2026-01-01", "shutdown": "2026-06-01"}]
    }
    with pytest.raises(InvalidCatalogueEntryError, match="gpt-9"):
        parse_lifecycle(data, known_models=["gpt-4o-2024-08-06"])
