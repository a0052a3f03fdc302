"""Slack to finish line: /launch, click Launch, the fake OpenAI job succeeds, one message back.

Everything runs as in production: signed Slack requests over HTTP to `ratecard serve`'s
composition (service + mounted bot, SQLite and PostgreSQL), the bot calling the REST API over
loopback, the service calling the fake OpenAI API, the job watcher and the alert dispatcher posting
to the fake Slack Web API. Only time is moved by hand (the fake OpenAI's clock).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import LAUNCH_ACTION
from tests.bot.harness import SlackStack, running_stack, signed_headers, texts

SAMPLE = (
    Path(__file__).resolve().parents[2] / "pricing" / "data" / "sample_chat.jsonl"
).read_bytes()
TEN_EXAMPLES = SAMPLE.rstrip(b"\n") + b"\n" + SAMPLE
CHANNEL = "C0LAUNCH"


@pytest.fixture
def stack(database_url: str, tmp_path: Any) -> Iterator[SlackStack]:
    with running_stack(database_url, tmp_path, with_openai=True) as running:
        with running.api() as api:
            assert (
                api.put("/v1/budgets/ml-platform", json={"monthly_usd": "500.00"}).status_code
                == 200
            )
        yield running


def launch_preview(stack: SlackStack) -> dict[str, Any]:
    file_id = stack.upload_training_file(TEN_EXAMPLES)
    _, url = stack.command(
        "/launch",
        f"gpt-4o-mini {file_id} epochs=3 suffix=support team=ml-platform",
        channel=CHANNEL,
    )
    return stack.last_response(url)


def jobs(stack: SlackStack) -> list[dict[str, Any]]:
    with stack.api() as api:
        items: list[dict[str, Any]] = api.get("/v1/jobs").json()["items"]
        return items


def finish_messages(stack: SlackStack) -> list[dict[str, Any]]:
    return [m for m in stack.slack_state.messages_to(CHANNEL) if "succeeded" in texts(m).lower()]


def test_slack_e2e__launch_click_succeed_one_finish_message_with_actual_vs_estimate(
    stack: SlackStack,
) -> None:
    preview = launch_preview(stack)
    stack.click(preview, LAUNCH_ACTION, channel=CHANNEL)
    [job] = jobs(stack)
    assert job["status"] in ("validating_files", "queued", "running")

    stack.run_jobs_to_the_end()
    stack.run_jobs_to_the_end()  # a second pass changes nothing: the alert is not sent twice

    with stack.api() as api:
        done = api.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded"
    assert done["actual_cost_usd"] is not None and done["estimated_cost_usd"] is not None
    [finished] = finish_messages(stack)
    shown = texts(finished)
    assert job["id"] in shown or (done["fine_tuned_model"] or "") in shown
    assert "Actual cost" in shown and "Estimate" in shown
    assert f"${Decimal(done['actual_cost_usd']):,.2f}" in shown
    assert f"${Decimal(done['estimated_cost_usd']):,.2f}" in shown


def test_slack_e2e__retried_interaction_still_one_job_and_one_finish_message(
    stack: SlackStack,
) -> None:
    preview = launch_preview(stack)
    _, _, body = stack.click(preview, LAUNCH_ACTION, channel=CHANNEL)
    # Slack did not hear our ack in time and delivers the same interaction again, twice.
    for attempt in ("1", "2"):
        retry = stack.post(
            body,
            {
                **signed_headers(body),
                "X-Slack-Retry-Num": attempt,
                "X-Slack-Retry-Reason": "http_timeout",
            },
        )
        assert retry.status_code == 200
    stack.wait_idle()
    assert len(jobs(stack)) == 1
    assert (
        stack.openai is not None and stack.openai.request_counts["POST /v1/fine_tuning/jobs"] == 1
    )

    stack.run_jobs_to_the_end()
    assert len(finish_messages(stack)) == 1


def test_slack_e2e__forged_click_is_401_and_launches_nothing(stack: SlackStack) -> None:
    preview = launch_preview(stack)
    button_value = next(
        e["value"] for b in preview["blocks"] if b["type"] == "actions" for e in b["elements"]
    )
    assert button_value
    _, _, body = stack.click(
        preview,
        LAUNCH_ACTION,
        channel=CHANNEL,
        wait=False,
        extra_headers=signed_headers(b"something else entirely"),
    )
    stack.wait_idle()
    forged = stack.post(body, signed_headers(body, secret="an-attackers-guess"))
    assert forged.status_code == 401
    stack.wait_idle()
    assert jobs(stack) == []
    assert (
        stack.openai is not None and stack.openai.request_counts["POST /v1/fine_tuning/jobs"] == 0
    )
