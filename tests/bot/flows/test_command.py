"""A slash command from ack to answer: help and usage errors in the ack, the rest after it."""

from __future__ import annotations

from typing import Any

from bot.flows.command import handle_command
from bot.flows.estimate import ESTIMATE
from bot.flows.launch import LAUNCH
from bot.flows.plumbing import BotContext


class RecordingAck:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def __call__(self, message: Any = None) -> None:
        self.calls.append(message)


def command_body(command: str, text: str) -> dict[str, Any]:
    # No response_url: the answer goes through the Web API (the fake Slack records it).
    return {"command": command, "text": text, "user_id": "U0ALICE", "channel_id": "C0LAUNCH"}


async def test_command__help_is_the_ack_and_nothing_runs_after_it(ctx: BotContext) -> None:
    ack = RecordingAck()
    await handle_command(LAUNCH, ack, command_body("/launch", "help"), ctx)
    [message] = ack.calls
    assert "/launch" in message["text"]
    assert ctx.background.pending == 0


async def test_command__usage_error_is_the_ack_with_the_usage(ctx: BotContext) -> None:
    ack = RecordingAck()
    await handle_command(ESTIMATE, ack, command_body("/estimate", "train gpt-4o tokens=x"), ctx)
    [message] = ack.calls
    assert "tokens= must be a whole number" in message["text"]
    assert ctx.background.pending == 0


async def test_command__work_runs_after_an_empty_ack_and_answers_through_slack(
    ctx: BotContext, stack: Any
) -> None:
    ack = RecordingAck()
    body = command_body("/estimate", "train gpt-3.5-turbo tokens=100k epochs=3 as_of=2023-09-01")
    await handle_command(ESTIMATE, ack, body, ctx)
    assert ack.calls == [None]
    await ctx.background.drain(30)
    posted = [m for m in stack.slack_state.messages if "$2.40" in str(m.get("text", ""))]
    assert posted and posted[0]["channel"] == "C0LAUNCH"
