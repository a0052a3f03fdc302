"""/estimate over signed HTTP: acked at once, answered through the response_url (or the Web API)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.harness import BOT_TOKEN, SlackStack, running_stack, texts

SAMPLE = Path(__file__).resolve().parents[2] / "pricing" / "data" / "sample_chat.jsonl"


def test_estimate_train__tokens_answer_in_channel_with_the_seed_price(stack: SlackStack) -> None:
    ack, url = stack.command(
        "/estimate", "train gpt-3.5-turbo tokens=100k epochs=3 as_of=2023-09-01"
    )
    assert ack.status_code == 200 and ack.text == ""  # an empty ack; the answer follows
    answer = stack.last_response(url)
    assert answer["response_type"] == "in_channel"
    assert "$2.40" in answer["text"] and "300,000 charged tokens" in answer["text"]
    assert "prices 2023-08-22 as of 2023-09-01" in texts(answer)


def test_estimate__usage_errors_are_answered_in_the_ack(stack: SlackStack) -> None:
    ack, url = stack.command("/estimate", "train gpt-4o-mini tokens=lots")
    body = ack.json()
    assert body["response_type"] == "ephemeral"
    assert "tokens= must be a whole number" in texts(
        body
    ) and "/estimate train <model> tokens=<N>" in texts(body)
    assert stack.responses(url) == []


@pytest.mark.parametrize("command", ["/estimate", "/launch", "/notify"])
def test_help__every_command_explains_itself(stack: SlackStack, command: str) -> None:
    ack, _ = stack.command(command, "help")
    assert command in ack.json()["text"]
    ack_empty, _ = stack.command(command, "")
    assert ack_empty.json()["text"] == ack.json()["text"]


def test_estimate__unknown_model_suggests_names_privately(stack: SlackStack) -> None:
    _, url = stack.command("/estimate", "train gpt-3.5-turbo-06 tokens=1000")
    answer = stack.last_response(url)
    assert answer["response_type"] == "ephemeral"
    shown = texts(answer)
    assert (
        "I don't know the model `gpt-3.5-turbo-06`. Did you mean" in shown
        and "`gpt-3.5-turbo-0613`" in shown
    )


def test_estimate_inference__scenarios_side_by_side_with_break_even(stack: SlackStack) -> None:
    _, url = stack.command(
        "/estimate",
        "inference gpt-3.5-turbo prompt=1500 completion=200 per_day=10000 "
        "vs=gpt-4 cut=90% training_tokens=1M as_of=2024-01-01",
    )
    answer = stack.last_response(url)
    shown = texts(answer)
    assert (
        "gpt-3.5-turbo" in shown
        and "fine-tuned gpt-3.5-turbo-0613 (prompt cut 90%)" in shown
        and "gpt-4" in shown
    )
    assert "pays for itself after" in shown
    assert "cheapest" in shown
    scenario_sections = [b for b in answer["blocks"] if b["type"] == "section" and "fields" in b]
    assert len(scenario_sections) == 3


def test_estimate_train__file_shared_in_channel_is_downloaded_with_the_bot_token(
    stack: SlackStack,
) -> None:
    stack.extras.share_file(
        name="notes.pdf", content=b"%PDF", user="U0ALICE", channel="C0LAUNCH", created=300
    )
    stack.extras.share_file(
        name="old.jsonl", content=b"{}", user="U0ALICE", channel="C0LAUNCH", created=100
    )
    shared = stack.extras.share_file(
        name="train.jsonl",
        content=SAMPLE.read_bytes(),
        user="U0ALICE",
        channel="C0LAUNCH",
        created=200,
    )
    stack.extras.share_file(
        name="bob.jsonl", content=b"{}", user="U0BOB", channel="C0LAUNCH", created=400
    )
    ack, url = stack.command("/estimate", "train gpt-3.5-turbo-0613 as_of=2023-09-01")
    assert "counting tokens" in ack.json()["text"]
    answer = stack.last_response(url)
    assert stack.extras.downloads == [(shared.id, BOT_TOKEN)]
    with stack.api() as api:
        direct = api.post(
            "/v1/estimates/training/file",
            files={"file": ("train.jsonl", SAMPLE.read_bytes())},
            data={"model": "gpt-3.5-turbo-0613", "as_of": "2023-09-01"},
        ).json()
    assert f"{direct['charged_tokens']:,} charged tokens" in answer["text"]
    assert "train.jsonl" in texts(answer)


def test_estimate_train__file_by_slack_link_uses_files_info(stack: SlackStack) -> None:
    shared = stack.extras.share_file(
        name="data.jsonl", content=SAMPLE.read_bytes(), user="U0BOB", channel="C0OTHER"
    )
    link = f"https://acme.slack.com/files/U0BOB/{shared.id}/data.jsonl"
    _, url = stack.command("/estimate", f"train gpt-3.5-turbo-0613 file=<{link}>")
    assert "Training estimate" in texts(stack.last_response(url))
    assert stack.extras.downloads == [(shared.id, BOT_TOKEN)]


def test_estimate_train__format_errors_come_back_with_line_numbers(stack: SlackStack) -> None:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "yo"},
                ]
            }
        )
    ]
    lines += ["not json", json.dumps({"prompt": "x"}), lines[0], "{broken"]
    stack.extras.share_file(
        name="bad.jsonl", content="\n".join(lines).encode(), user="U0ALICE", channel="C0LAUNCH"
    )
    _, url = stack.command("/estimate", "train gpt-4o-mini")
    answer = stack.last_response(url)
    assert answer["response_type"] == "ephemeral"
    shown = texts(answer)
    assert "format errors" in shown and "line 2" in shown and "5" in shown


def test_estimate_train__nothing_shared_says_how_to_share(stack: SlackStack) -> None:
    _, url = stack.command("/estimate", "train gpt-4o-mini")
    assert "can't find a JSONL file you shared in this channel" in texts(stack.last_response(url))
    assert stack.extras.downloads == []


@pytest.fixture
def small_uploads(sqlite_url: str, tmp_path: Any) -> Iterator[SlackStack]:
    with running_stack(
        sqlite_url, tmp_path, configure=lambda o: o.update(max_upload_bytes=1000)
    ) as running:
        yield running


def test_estimate_train__file_over_the_limit_is_not_downloaded(small_uploads: SlackStack) -> None:
    small_uploads.extras.share_file(
        name="big.jsonl", content=b"x" * 5000, user="U0ALICE", channel="C0LAUNCH"
    )
    _, url = small_uploads.command("/estimate", "train gpt-4o-mini")
    assert "5,000 bytes; estimates take files up to 1,000 bytes" in texts(
        small_uploads.last_response(url)
    )
    assert small_uploads.extras.downloads == []


def test_estimate__expired_response_url_falls_back_to_the_web_api(stack: SlackStack) -> None:
    url = stack.extras.response_url(stack.slack.url)
    stack.extras.expire(url)
    original = stack.extras.response_url

    def expired(_: str) -> str:
        return url

    stack.extras.response_url = expired  # type: ignore[method-assign]
    try:
        stack.command("/estimate", "train gpt-3.5-turbo tokens=100k epochs=3 as_of=2023-09-01")
        stack.command("/estimate", "train gpt-3.5-turbo-06 tokens=1000")
    finally:
        stack.extras.response_url = original  # type: ignore[method-assign]
    posted = stack.slack_state.messages_to("C0LAUNCH")
    assert len(posted) == 1 and "$2.40" in posted[0]["text"]
    ephemeral = [c for c in stack.slack_state.calls if c.method == "chat.postEphemeral"]
    assert len(ephemeral) == 1 and ephemeral[0].args["user"] == "U0ALICE"
    assert "Did you mean" in texts(ephemeral[0].args)


@pytest.mark.parametrize(
    ("command", "text"),
    [("/estimate", "train gpt-4o-mini file=file-abc123"), ("/launch", "gpt-4o-mini file-abc123")],
)
def test_estimate__openai_file_without_an_openai_key_says_who_must_set_what(
    stack: SlackStack, command: str, text: str
) -> None:
    _, url = stack.command(command, text)
    shown = texts(stack.last_response(url))
    assert "no OpenAI API key configured" in shown
    assert "ratecard operator" in shown and "RATECARD_OPENAI_API_KEY" in shown
    assert "try again" not in shown
