"""/launch's flow, called directly: a preview with buttons, then one job per click, never two."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import LAUNCH_ACTION
from bot.flows.launch import launch_note, run_launch, run_launch_preview
from bot.flows.plumbing import BotContext
from bot.parsing import Launch
from tests.bot.flows.conftest import RecordingResponder, shown
from tests.bot.harness import SlackStack, running_stack

SAMPLE = (
    Path(__file__).resolve().parents[3] / "pricing" / "data" / "sample_chat.jsonl"
).read_bytes()
TEN_EXAMPLES = SAMPLE.rstrip(b"\n") + b"\n" + SAMPLE


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Any) -> Iterator[SlackStack]:
    with running_stack(sqlite_url, tmp_path, with_openai=True) as running:
        yield running


def launch_button_value(message: dict[str, Any]) -> dict[str, Any]:
    value = next(
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == LAUNCH_ACTION
    )
    decoded: dict[str, Any] = json.loads(value)
    return decoded


async def test_launch__preview_then_the_same_click_twice_makes_one_job_and_one_subscription(
    stack: SlackStack, ctx: BotContext, responder: RecordingResponder
) -> None:
    file_id = stack.upload_training_file(TEN_EXAMPLES)
    parsed = Launch("gpt-4o-mini", file_id, epochs=3)
    assert launch_note(parsed) == f"Estimating gpt-4o-mini on {file_id}…"
    await run_launch_preview(parsed, responder, ctx)
    [preview] = responder.sent
    assert "Launch fine-tuning?" in shown([preview])
    assert (await ctx.service.list_jobs()).items == []  # nothing starts before the click

    value = launch_button_value(preview)
    await run_launch(value, "slack-same-click", responder, ctx)
    await run_launch(value, "slack-same-click", responder, ctx)
    assert len((await ctx.service.list_jobs()).items) == 1
    assert "no second job was created" in shown(responder.sent[-1:])
    assert len(await ctx.service.list_subscriptions(destination="C0LAUNCH")) == 1
