"""Only Slack may talk to /slack/events: every bad signature is a 401 and nothing happens."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from tests.bot.harness import SIGNING_SECRET, SlackStack, signed_headers, slack_signature


def estimate_body(stack: SlackStack) -> tuple[bytes, str]:
    response_url = stack.extras.response_url(stack.slack.url)
    form = {
        "command": "/estimate",
        "text": "train gpt-3.5-turbo tokens=100000",
        "user_id": "U0ALICE",
        "channel_id": "C0LAUNCH",
        "team_id": "T0FAKE",
        "response_url": response_url,
        "trigger_id": "1.2",
    }
    return urlencode(form).encode(), response_url


def estimates_stored(stack: SlackStack) -> int:
    from sqlmodel import select

    from service.db import session_scope
    from service.estimates.models import EstimateRecord

    with session_scope(stack.app.state.engine) as session:
        return len(session.exec(select(EstimateRecord)).all())


def forged(body: bytes) -> dict[str, str]:
    return signed_headers(body, secret="not-the-signing-secret")


def missing_signature(body: bytes) -> dict[str, str]:
    headers = signed_headers(body)
    del headers["X-Slack-Signature"]
    return headers


def missing_timestamp(body: bytes) -> dict[str, str]:
    headers = signed_headers(body)
    del headers["X-Slack-Request-Timestamp"]
    return headers


def stale(body: bytes) -> dict[str, str]:
    return signed_headers(body, timestamp=int(time.time()) - 5 * 60 - 30)


def from_the_future(body: bytes) -> dict[str, str]:
    return signed_headers(body, timestamp=int(time.time()) + 5 * 60 + 30)


def tampered(body: bytes) -> dict[str, str]:
    return signed_headers(body.replace(b"100000", b"999999"))  # signed a different body


def malformed(value: str):  # type: ignore[no-untyped-def]
    def headers(body: bytes) -> dict[str, bytes]:
        # bytes: full-width digits travel as their UTF-8, as a hostile client would send them
        return {
            "X-Slack-Request-Timestamp": value.encode(),
            "X-Slack-Signature": slack_signature(SIGNING_SECRET, value, body).encode(),
            "Content-Type": b"application/x-www-form-urlencoded",
        }

    headers.__name__ = f"malformed_{value!r}"
    return headers


@pytest.mark.parametrize(
    "make_headers",
    [
        forged,
        missing_signature,
        missing_timestamp,
        stale,
        from_the_future,
        tampered,
        malformed("yesterday"),
        malformed("1.7e9"),
        malformed("-1"),
        malformed("+1700000000"),
        malformed("1_700_000_000"),
        malformed("\uff11\uff17\uff10\uff10"),
        malformed("9" * 40),
    ],
    ids=lambda f: f.__name__,
)
def test_events__bad_signature_is_401_and_does_nothing(stack: SlackStack, make_headers) -> None:  # type: ignore[no-untyped-def]
    body, response_url = estimate_body(stack)
    response = stack.post(body, make_headers(body))
    assert response.status_code == 401
    assert "Traceback" not in response.text
    stack.wait_idle()
    assert stack.responses(response_url) == []
    assert estimates_stored(stack) == 0
    assert stack.slack_state.calls == []


def test_events__slack_signature_is_accepted(stack: SlackStack) -> None:
    body, response_url = estimate_body(stack)
    response = stack.post(body, signed_headers(body))
    assert response.status_code == 200
    stack.wait_idle()
    assert "$2.40" in stack.last_response(response_url)["text"]
    assert estimates_stored(stack) == 1


def test_events__retried_command_within_five_minutes_is_still_accepted(stack: SlackStack) -> None:
    body, response_url = estimate_body(stack)
    headers = signed_headers(body, timestamp=int(time.time()) - 4 * 60)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert stack.post(body, {**headers, **retry}).status_code == 200
    stack.wait_idle()
    assert "$2.40" in stack.last_response(response_url)["text"]


def test_events__ack_does_not_wait_for_the_slack_web_api(stack: SlackStack) -> None:
    # bolt would otherwise call auth.test before the first ack; with Slack's API slow or down that
    # round trip alone could break the 3-second acknowledgement.
    body, response_url = estimate_body(stack)
    assert stack.post(body, signed_headers(body)).status_code == 200
    stack.wait_idle()
    assert "$2.40" in stack.last_response(response_url)["text"]
    assert [c.method for c in stack.slack_state.calls if c.method == "auth.test"] == []


def test_events__body_over_the_slack_limit_is_413_before_its_signature_is_checked(
    stack: SlackStack,
) -> None:
    from bot.mount import MAX_SLACK_BODY_BYTES

    body, response_url = estimate_body(stack)
    padded = body + b"&pad=" + b"x" * MAX_SLACK_BODY_BYTES
    response = stack.post(padded, signed_headers(padded))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert f"{MAX_SLACK_BODY_BYTES:,} bytes" in response.json()["detail"]
    stack.wait_idle()
    assert stack.responses(response_url) == []
    assert estimates_stored(stack) == 0


def test_events__chunked_body_over_the_slack_limit_is_413(stack: SlackStack) -> None:
    from bot.mount import MAX_SLACK_BODY_BYTES

    body, response_url = estimate_body(stack)
    padded = body + b"&pad=" + b"x" * MAX_SLACK_BODY_BYTES

    def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(padded), 8192):
            yield padded[start : start + 8192]

    response = stack.http.post(stack.events_url, content=chunks(), headers=signed_headers(padded))
    assert response.status_code == 413
    stack.wait_idle()
    assert stack.responses(response_url) == []


def test_events__body_just_under_the_slack_limit_is_still_answered(stack: SlackStack) -> None:
    from bot.mount import MAX_SLACK_BODY_BYTES

    body, response_url = estimate_body(stack)
    padded = body + b"&pad=" + b"x" * (MAX_SLACK_BODY_BYTES - len(body) - 5)
    assert len(padded) == MAX_SLACK_BODY_BYTES
    response = stack.post(padded, signed_headers(padded))
    assert response.status_code == 200
    stack.wait_idle()
    assert stack.responses(response_url)
