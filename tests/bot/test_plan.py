"""/plan in Slack: the fine-tuned models by days left, and one model's countdown beside its
scenarios; /notify fine-tuning subscribes to the countdown. Runs the real service and bot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from service.planning.router import planning_now
from service.usage.router import current_time
from tests.bot.harness import SlackStack, running_stack, texts

NOW = datetime(2026, 12, 7, 12, 0, 5, tzinfo=UTC)
MODEL = "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"
OLD = "ft:gpt-3.5-turbo-0125:acme::old1"


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Any) -> Iterator[SlackStack]:
    with running_stack(sqlite_url, tmp_path) as running:
        running.app.dependency_overrides[planning_now] = lambda: NOW
        running.app.dependency_overrides[current_time] = lambda: NOW
        with running.api() as api:
            for model, prompt, completion, n in ((MODEL, 200, 100, 4), (OLD, 50, 10, 1)):
                events = [
                    {
                        "model": model,
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "timestamp": NOW.isoformat(),
                    }
                ] * n
                assert api.post("/v1/usage", json={"events": events}).status_code == 200
        yield running


def test_plan__lists_fine_tuned_models_by_days_left(stack: SlackStack) -> None:
    _, url = stack.command("/plan", "list days=1")

    answer = texts(stack.last_response(url))

    assert answer.index(OLD) < answer.index(MODEL)
    assert "shut down on 2026-10-23" in answer
    assert "38 days left (shuts down 2027-01-14)" in answer
    assert "`gpt-6-luna`" in answer and "4 requests/day" in answer


def test_plan__what_happens_to_a_model_side_by_side(stack: SlackStack) -> None:
    _, url = stack.command("/plan", f"{MODEL} to=gpt-4o-mini cut=90% days=1")

    message = stack.last_response(url)
    answer = texts(message)

    assert f"What happens to {MODEL}?" in answer
    assert "38 days left" in answer
    # Hand-computed in tests/service/planning/test_scenarios.py: $0.0216 today, $0.03 on
    # gpt-6-luna, $0.0432 on gpt-4o-mini a month (shown to the cent).
    assert "gpt-6-luna (recommended)" in answer and "gpt-4o-mini" in answer
    assert "$0.02/month" in answer and "$0.03/month" in answer and "$0.04/month" in answer
    assert ":white_check_mark: peak 8,400 of 200,000 TPM" in answer
    assert "One last fine-tune" in answer


def test_plan__unknown_model_is_answered_plainly(stack: SlackStack) -> None:
    _, url = stack.command("/plan", "ft:gpt-4o-mini-2024-07-18:acme::nope")
    answer = stack.last_response(url)
    assert answer["response_type"] == "ephemeral"
    assert "not one of the organisation's fine-tuned models" in texts(answer)


def test_plan__usage_errors_in_the_ack(stack: SlackStack) -> None:
    ack, url = stack.command("/plan", "gpt-4o-mini")
    assert "not a fine-tuned model" in texts(ack.json())
    assert stack.responses(url) == []


def test_notify__fine_tuning_countdown_subscription(stack: SlackStack) -> None:
    _, url = stack.command("/notify", f"fine-tuning {MODEL}")
    assert "will hear about" in texts(stack.last_response(url))
    with stack.api() as api:
        (sub,) = api.get("/v1/subscriptions").json()["items"]
    assert sub["follows"] == {"type": "fine_tuning", "model": MODEL}
