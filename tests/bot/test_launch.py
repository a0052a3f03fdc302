"""/launch: estimate and budget first, a job only when the requester presses Launch, never two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import CANCEL_ACTION, LAUNCH_ACTION
from tests.bot.harness import SlackStack, running_stack, texts

SAMPLE = (
    Path(__file__).resolve().parents[2] / "pricing" / "data" / "sample_chat.jsonl"
).read_bytes()
TEN_EXAMPLES = SAMPLE.rstrip(b"\n") + b"\n" + SAMPLE


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Any) -> Iterator[SlackStack]:
    with running_stack(sqlite_url, tmp_path, with_openai=True) as running:
        with running.api() as api:
            assert (
                api.put("/v1/budgets/ml-platform", json={"monthly_usd": "500.00"}).status_code
                == 200
            )
        yield running


def jobs(stack: SlackStack) -> list[dict[str, Any]]:
    with stack.api() as api:
        items: list[dict[str, Any]] = api.get("/v1/jobs").json()["items"]
        return items


def subscriptions(stack: SlackStack) -> list[dict[str, Any]]:
    with stack.api() as api:
        items: list[dict[str, Any]] = api.get("/v1/subscriptions").json()["items"]
        return items


def preview(stack: SlackStack, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
    file_id = stack.upload_training_file(TEN_EXAMPLES)
    ack, url = stack.command(
        "/launch", text or f"gpt-4o-mini {file_id} epochs=3 team=ml-platform", **kwargs
    )
    assert ack.status_code == 200 and "Estimating gpt-4o-m" in ack.json()["text"]
    return stack.last_response(url)


def test_launch__shows_estimate_and_remaining_budget_and_creates_nothing(stack: SlackStack) -> None:
    message = preview(stack)
    assert message["response_type"] == "in_channel"
    shown = texts(message)
    assert (
        "Launch fine-tuning?" in shown
        and "ml-platform: $500.00 / month" in shown
        and "Remaining*\n$500.00" in shown
    )
    with stack.api() as api:
        estimate = api.post(
            "/v1/jobs/preview",
            json={
                "training_file": stack.upload_training_file(TEN_EXAMPLES),
                "model": "gpt-4o-mini",
                "team": "ml-platform",
                "hyperparameters": {"n_epochs": 3},
            },
        ).json()["estimate"]
    assert f"Exact estimate ${estimate['cost_usd']}" in shown
    assert [
        e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ] == [LAUNCH_ACTION, CANCEL_ACTION]
    assert jobs(stack) == []


def test_launch__only_the_requester_can_press_launch(stack: SlackStack) -> None:
    message = preview(stack)
    ack, url, _ = stack.click(message, LAUNCH_ACTION, user="U0BOB")
    assert ack.status_code == 200
    answer = stack.last_response(url)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "Only <@U0ALICE> can launch" in texts(answer)
    assert jobs(stack) == []


def test_launch__click_creates_the_job_and_subscribes_the_channel(stack: SlackStack) -> None:
    message = preview(stack)
    ack, url, _ = stack.click(message, LAUNCH_ACTION)
    assert ack.status_code == 200 and ack.text == ""
    [job] = jobs(stack)
    assert job["launched_by"] == "slack:U0ALICE" and job["team"] == "ml-platform"
    assert job["hyperparameters"]["n_epochs"] == 3
    final = stack.last_response(url)
    assert final["replace_original"] is True
    assert f"`{job['id']}`" in texts(final) and "<#C0LAUNCH> will hear when it finishes" in texts(
        final
    )
    [sub] = subscriptions(stack)
    assert sub["destination"] == {"type": "slack", "channel": "C0LAUNCH"}
    assert sub["follows"] == {"type": "job", "job_id": job["id"]}
    assert sub["created_by"] == "slack:U0ALICE"


def test_launch__double_click_and_slack_retry_make_one_job_and_one_subscription(
    stack: SlackStack,
) -> None:
    message = preview(stack)
    # Two clicks racing (neither waits for the other), then Slack retrying the first delivery.
    first, _, body = stack.click(message, LAUNCH_ACTION, wait=False)
    second, _, _ = stack.click(message, LAUNCH_ACTION, wait=False)
    stack.wait_idle()
    retry = stack.post(
        body, {**_resigned(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    stack.wait_idle()
    assert first.status_code == second.status_code == retry.status_code == 200
    assert len(jobs(stack)) == 1
    assert len(subscriptions(stack)) == 1
    assert stack.openai is not None
    assert stack.openai.request_counts["POST /v1/fine_tuning/jobs"] == 1


def _resigned(body: bytes) -> dict[str, str]:
    from tests.bot.harness import signed_headers

    return signed_headers(body)


def test_launch__cancel_replaces_the_buttons_and_launches_nothing(stack: SlackStack) -> None:
    message = preview(stack)
    _, url, _ = stack.click(message, CANCEL_ACTION)
    answer = stack.last_response(url)
    assert answer["replace_original"] is True and "cancelled the launch" in texts(answer)
    assert jobs(stack) == []


def test_launch__over_budget_shows_the_figures_and_no_launch_button(stack: SlackStack) -> None:
    with stack.api() as api:
        api.put("/v1/budgets/ml-platform", json={"monthly_usd": "0.01"})
    message = preview(stack)
    assert [
        e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ] == [CANCEL_ACTION]
    assert "would exceed *ml-platform*'s monthly budget ($0.01 left of $0.01)" in texts(message)


def test_launch__budget_cut_between_preview_and_click_is_refused_with_figures(
    stack: SlackStack,
) -> None:
    message = preview(stack)
    with stack.api() as api:
        api.put("/v1/budgets/ml-platform", json={"monthly_usd": "0.01"})
    _, url, _ = stack.click(message, LAUNCH_ACTION)
    replaced, refusal = stack.responses(url)[-2:]
    assert "did not start: " in texts(replaced) and replaced["replace_original"] is True
    assert refusal["response_type"] == "ephemeral"
    assert "Over budget" in texts(refusal) and "$0.01 left of its $0.01 monthly budget" in texts(
        refusal
    )
    # The service keeps the refused launch on record; nothing reached OpenAI.
    assert [j["status"] for j in jobs(stack)] == ["launch_failed"]
    assert stack.openai is not None
    assert stack.openai.request_counts["POST /v1/fine_tuning/jobs"] == 0


def test_launch__insufficient_quota_is_said_plainly(stack: SlackStack) -> None:
    message = preview(stack)
    assert stack.openai is not None
    stack.openai.inject_fault("insufficient_quota", path="/v1/fine_tuning/jobs", method="POST")
    _, url, _ = stack.click(message, LAUNCH_ACTION)
    refusal = stack.last_response(url)
    assert "OpenAI quota exhausted" in texts(refusal) and "run out of quota" in texts(refusal)


def test_launch__unknown_model_suggests_names(stack: SlackStack) -> None:
    message = preview(stack, text="gpt-4o-mni file-whatever team=ml-platform")
    assert "I don't know the model `gpt-4o-mni`" in texts(message) and "`gpt-4o-mini`" in texts(
        message
    )


def test_estimate_train__openai_file_id_is_counted_by_the_service(stack: SlackStack) -> None:
    file_id = stack.upload_training_file(TEN_EXAMPLES)
    _, url = stack.command("/estimate", f"train gpt-4o-mini file={file_id} epochs=2")
    answer = stack.last_response(url)
    assert "Training estimate" in texts(answer) and f"OpenAI file `{file_id}`" in texts(answer)
    assert "*Epochs*\n2" in texts(answer)
    assert jobs(stack) == []
