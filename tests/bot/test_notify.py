"""/notify: subscriptions for the channel (or `me`), listed and stopped from Slack."""

from __future__ import annotations

from typing import Any

from tests.bot.harness import SlackStack, texts


def subscriptions(stack: SlackStack) -> list[dict[str, Any]]:
    with stack.api() as api:
        items: list[dict[str, Any]] = api.get("/v1/subscriptions").json()["items"]
        return items


def test_notify__each_form_subscribes_the_channel_or_me(stack: SlackStack) -> None:
    for text in (
        "job_0123abcd",
        "all",
        "team ml-platform",
        "tpm gpt-3.5-turbo at=80",
        "me ftjob-abc123",
    ):
        _, url = stack.command("/notify", text)
        answer = stack.last_response(url)
        assert answer["response_type"] == "ephemeral" and "will hear about" in texts(answer)
    made = {
        (s["destination"]["channel"], tuple(sorted(s["follows"].items())))
        for s in subscriptions(stack)
    }
    assert made == {
        ("C0LAUNCH", (("job_id", "job_0123abcd"), ("type", "job"))),
        ("C0LAUNCH", (("type", "all_jobs"),)),
        ("C0LAUNCH", (("team", "ml-platform"), ("type", "team"))),
        ("C0LAUNCH", (("family", "gpt-3.5-turbo"), ("threshold_pct", 80), ("type", "tpm"))),
        ("U0ALICE", (("job_id", "ftjob-abc123"), ("type", "job"))),
    }
    assert {s["created_by"] for s in subscriptions(stack)} == {"slack:U0ALICE"}


def test_notify__list_shows_this_channel_and_my_dms_only(stack: SlackStack) -> None:
    stack.command("/notify", "all")
    stack.command("/notify", "me team ml-platform")
    stack.command("/notify", "all", channel="C0ELSEWHERE", user="U0BOB")
    _, url = stack.command("/notify", "list")
    listing = texts(stack.last_response(url))
    assert (
        "every job → <#C0LAUNCH>" in listing and "team *ml-platform*'s jobs → <@U0ALICE>" in listing
    )
    assert "C0ELSEWHERE" not in listing


def test_notify__off_stops_a_subscription_of_this_channel(stack: SlackStack) -> None:
    stack.command("/notify", "all")
    [sub] = subscriptions(stack)
    _, url = stack.command("/notify", f"off {sub['id']}")
    assert f"Stopped `{sub['id']}`" in texts(stack.last_response(url))
    assert subscriptions(stack) == []


def test_notify__off_cannot_stop_another_channels_subscription(stack: SlackStack) -> None:
    stack.command("/notify", "all", channel="C0ELSEWHERE", user="U0BOB")
    [sub] = subscriptions(stack)
    _, url = stack.command("/notify", f"off {sub['id']}")
    answer = stack.last_response(url)
    assert answer["response_type"] == "ephemeral" and "no subscription" in texts(answer)
    assert len(subscriptions(stack)) == 1


def test_notify__service_validation_is_shown_plainly(stack: SlackStack) -> None:
    _, url = stack.command("/notify", "team " + "x" * 150)
    answer = stack.last_response(url)
    assert answer["response_type"] == "ephemeral" and "follows" in texts(answer)
    assert subscriptions(stack) == []


def test_notify__unknown_form_answers_with_usage(stack: SlackStack) -> None:
    ack, url = stack.command("/notify", "everything please")
    assert "I don't know 'everything'" in texts(ack.json()) and "/notify list" in texts(ack.json())
    assert stack.responses(url) == []
