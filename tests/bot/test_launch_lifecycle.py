"""Slack's /launch and /estimate say what OpenAI's lifecycle means for the job, on the day.

"Today" is pinned in the service through its clock dependency (``service.clock.today_utc``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import LAUNCH_ACTION
from service.clock import today_utc
from tests.bot.harness import SlackStack, running_stack, texts

SAMPLE = (
    Path(__file__).resolve().parents[2] / "pricing" / "data" / "sample_chat.jsonl"
).read_bytes()
TEN_EXAMPLES = SAMPLE.rstrip(b"\n") + b"\n" + SAMPLE
CREATE = "POST /v1/fine_tuning/jobs"


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Any) -> Iterator[SlackStack]:
    with running_stack(sqlite_url, tmp_path, with_openai=True) as running:
        yield running


@pytest.fixture
def on_day(stack: SlackStack) -> Iterator[Callable[[date], None]]:
    def pin(day: date) -> None:
        stack.app.dependency_overrides[today_utc] = lambda: day

    yield pin
    stack.app.dependency_overrides.pop(today_utc, None)


def openai_calls(stack: SlackStack) -> int:
    assert stack.openai is not None
    return sum(stack.openai.request_counts.values())


def test_launch__a_model_whose_fine_tuning_closed_is_refused_with_date_and_replacement(
    stack: SlackStack, on_day: Callable[[date], None]
) -> None:
    on_day(date(2026, 12, 6))
    file_id = stack.upload_training_file(TEN_EXAMPLES)

    _, url = stack.command("/launch", f"davinci-002 {file_id} team=ml-platform")

    shown = texts(stack.last_response(url))
    assert "OpenAI will not accept this fine-tuning job" in shown
    assert "closed on 2024-10-28" in shown and "gpt-5.6-terra" in shown
    assert openai_calls(stack) == 0


def test_launch__preview_says_how_many_days_are_left_before_new_jobs_stop(
    stack: SlackStack, on_day: Callable[[date], None]
) -> None:
    on_day(date(2026, 12, 6))
    file_id = stack.upload_training_file(TEN_EXAMPLES)

    _, url = stack.command("/launch", f"gpt-4o-mini {file_id} team=ml-platform")

    shown = texts(stack.last_response(url))
    assert "until *2027-01-05* (31 days left)" in shown


def test_launch__click_after_the_wind_down_shows_the_refusal_and_creates_nothing(
    stack: SlackStack, on_day: Callable[[date], None]
) -> None:
    on_day(date(2027, 1, 5))
    file_id = stack.upload_training_file(TEN_EXAMPLES)
    _, preview_url = stack.command("/launch", f"gpt-4o-mini {file_id} team=ml-platform")
    message = stack.last_response(preview_url)
    on_day(date(2027, 1, 6))  # the button is pressed the next day

    _, url, _ = stack.click(message, LAUNCH_ACTION)

    shown = " ".join(texts(m) for m in stack.responses(url))
    assert "did not start" in shown
    assert "OpenAI accepts no new fine-tuning job on 2027-01-06" in shown
    assert stack.openai is not None and stack.openai.request_counts[CREATE] == 0
    with stack.api() as api:
        assert api.get("/v1/jobs").json()["items"] == []


def test_estimate_train__openai_file_shows_the_lifecycle_warnings(
    stack: SlackStack, on_day: Callable[[date], None]
) -> None:
    on_day(date(2026, 12, 6))
    file_id = stack.upload_training_file(TEN_EXAMPLES)

    _, url = stack.command("/estimate", f"train gpt-4o-mini {file_id}")

    shown = texts(stack.last_response(url))
    assert "accepted until 2027-01-05 (31 days left)" in shown


def dpo_file() -> bytes:
    pair = {
        "input": {"messages": [{"role": "user", "content": "Capital of France?"}]},
        "preferred_output": [{"role": "assistant", "content": "Paris."}],
        "non_preferred_output": [{"role": "assistant", "content": "Lyon."}],
    }
    return b"".join(json.dumps(pair).encode() + b"\n" for _ in range(10))


def test_launch__preference_method_checks_pairs_and_sends_openai_a_dpo_method(
    stack: SlackStack, on_day: Callable[[date], None]
) -> None:
    on_day(date(2026, 12, 6))
    file_id = stack.upload_training_file(dpo_file())
    _, url = stack.command("/launch", f"gpt-4.1-mini {file_id} method=preference team=ml-platform")
    message = stack.last_response(url)
    assert "ratecard's assumption" in texts(message)  # the DPO billing-token assumption

    _, click_url, _ = stack.click(message, LAUNCH_ACTION)

    # The fake OpenAI only trains supervised jobs: its refusal proves a non-supervised
    # method object reached it (OpenAI's real API takes {"type": "dpo", "dpo": {...}}).
    shown = " ".join(texts(m) for m in stack.responses(click_url))
    assert "OpenAI rejected the job" in shown and "method.type" in shown


def test_launch__reinforcement_from_slack_points_to_the_api(stack: SlackStack) -> None:
    ack, _ = stack.command("/launch", "o4-mini file-abc123 method=reinforcement", wait=False)

    assert "grader" in ack.json()["text"] and "POST /v1/jobs" in ack.json()["text"]
