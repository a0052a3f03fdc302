"""/estimate's flow, called directly: what it answers for each form."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.flows.estimate import estimate_note, run_estimate
from bot.flows.plumbing import BotContext, report_failure
from bot.parsing import Inference, TrainFromOpenAIFile, TrainFromSlackFile, TrainFromTokens
from service.client import ServiceClientError
from tests.bot.flows.conftest import RecordingResponder, first, shown
from tests.bot.harness import BOT_TOKEN, SlackStack

SAMPLE = Path(__file__).resolve().parents[3] / "pricing" / "data" / "sample_chat.jsonl"


async def test_estimate__token_count_answers_once_in_channel_with_the_seed_price(
    ctx: BotContext, responder: RecordingResponder
) -> None:
    parsed = TrainFromTokens("gpt-3.5-turbo", 100_000, epochs=3, as_of=date(2023, 9, 1))
    assert estimate_note(parsed) is None  # quick: a silent ack
    await run_estimate(parsed, responder, ctx)
    assert len(responder.sent) == 1
    answer = first(responder.sent)
    assert answer["response_type"] == "in_channel"
    assert "$2.40" in answer["text"] and "300,000 charged tokens" in answer["text"]


async def test_estimate__slack_file_is_found_downloaded_with_the_bot_token_and_counted(
    stack: SlackStack, ctx: BotContext, responder: RecordingResponder, tmp_path: Path
) -> None:
    shared = stack.extras.share_file(
        name="train.jsonl", content=SAMPLE.read_bytes(), user="U0ALICE", channel="C0LAUNCH"
    )
    parsed = TrainFromSlackFile("gpt-3.5-turbo-0613", as_of=date(2023, 9, 1))
    assert estimate_note(parsed) == "Fetching your file and counting tokens…"
    await run_estimate(parsed, responder, ctx)
    assert stack.extras.downloads == [(shared.id, BOT_TOKEN)]
    assert "Training estimate" in shown(responder.sent) and "train.jsonl" in shown(responder.sent)
    assert list(tmp_path.glob("ratecard-slack-*")) == []  # the downloaded copy is removed


async def test_estimate__inference_compares_scenarios(
    ctx: BotContext, responder: RecordingResponder
) -> None:
    parsed = Inference("gpt-3.5-turbo", 1500, 200, 10_000, vs=("gpt-4",), as_of=date(2024, 1, 1))
    await run_estimate(parsed, responder, ctx)
    assert "gpt-4" in shown(responder.sent) and "cheapest" in shown(responder.sent)


async def test_estimate__openai_file_without_an_openai_key_is_a_setup_problem_for_the_operator(
    ctx: BotContext, responder: RecordingResponder
) -> None:
    with pytest.raises(ServiceClientError) as raised:
        await run_estimate(TrainFromOpenAIFile("gpt-4o-mini", "file-abc123"), responder, ctx)
    assert raised.value.code == "openai_not_configured"
    await report_failure(raised.value, responder)
    said = shown(responder.sent)
    assert "ratecard operator" in said and "RATECARD_OPENAI_API_KEY" in said
    assert "try again" not in said
