"""An operator-supplied admin key must be as strong as the keys ratecard generates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.auth.service import new_secret
from service.auth.strength import REQUIRED_BITS, estimated_bits, weakness
from service.settings import get_settings

STRONG_HEX = "rc_" + "3f9a0c5e7b1d2468ace0bd1357f9e2c4" + "8a6b0d2f4e1c3a5978f6e4d2c0b1a397"


def test_strength__generated_keys_meet_the_bar():
    for _ in range(200):
        assert estimated_bits(new_secret()) >= REQUIRED_BITS - 10  # chance may drop a class
    assert weakness(STRONG_HEX) is None


@pytest.mark.parametrize(
    "secret",
    [
        "rc_operator_supplied_key_1234567890",  # words and a counting run
        "rc_" + "a" * 200,
        "rc_" + "aB3" * 40,
        "rc_" + "abcdefghijklmnopqrstuvwxyz" * 3,
        "rc_" + "Passw0rd!" * 8,
        "3f9a0c5e7b1d2468ace0bd1357f9e2c48a6b0d2f4e1c3a5978f6e4d2c0b1a397",  # no rc_
        "rc_" + "é" * 64,
        "rc_",
    ],
)
def test_strength__weak_admin_keys_are_refused_saying_what_is_required(secret):
    problem = weakness(secret)
    assert problem is not None and str(REQUIRED_BITS) in problem and "rc_" in problem


def test_settings__weak_admin_api_key_is_refused_without_repeating_it():
    weak = "rc_operator_supplied_key_1234567890"
    with pytest.raises(ValidationError) as caught:
        get_settings(admin_api_key=weak)
    message = caught.value.errors()[0]["msg"]
    assert "RATECARD_ADMIN_API_KEY" in message and "256 bits" in message
    assert weak not in message
    assert get_settings(admin_api_key=STRONG_HEX).admin_api_key is not None
