"""Slack messages are pure functions of the event payload: Block Kit plus a readable fallback."""

from __future__ import annotations

from service.alerts.messages import (
    format_duration,
    job_finished_message,
    render_event,
    tpm_threshold_message,
)
from tests.service.alerts.conftest import job_payload, tpm_payload


def _all_text(blocks: list[dict]) -> str:
    return str(blocks)


def test_succeeded_job__model_to_use_duration_tokens_and_cost_beside_estimate():
    message = job_finished_message(job_payload())
    assert message.text == (
        "Fine-tuning job ftjob-abc123 (gpt-3.5-turbo-0613) succeeded: use "
        "ft:gpt-3.5-turbo-0613:acme:support-bot:8AbCdEf; took 1h 02m, 315,000 trained tokens, "
        "cost $2.52 (estimate $2.40, +$0.12 (+5.0%))"
    )
    assert message.blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "emoji": True,
            "text": ":white_check_mark: Fine-tuning job succeeded",
        },
    }
    fields = [f["text"] for f in message.blocks[3]["fields"]]
    assert fields == [
        "*Duration*\n1h 02m",
        "*Trained tokens*\n315,000",
        "*Actual cost*\n$2.52",
        "*Estimate*\n$2.40",
        "*Difference*\n+$0.12 (+5.0%)",
    ]


def test_money_is_shown_with_two_decimals_rounded_half_even():
    message = job_finished_message(
        job_payload(
            actual_cost_usd="1234.565",
            estimated_cost_usd="1000.000001",
            cost_difference_usd="234.564999",
        )
    )
    fields = [f["text"] for f in message.blocks[3]["fields"]]
    assert "*Actual cost*\n$1,234.56" in fields and "*Estimate*\n$1,000.00" in fields
    assert "*Difference*\n+$234.56 (+23.5%)" in fields


def test_cheaper_than_estimated__negative_difference():
    message = job_finished_message(job_payload(actual_cost_usd="2.28", cost_difference_usd="-0.12"))
    assert "-$0.12 (-5.0%)" in message.text


def test_difference_is_computed_when_the_payload_lacks_it():
    message = job_finished_message(job_payload(cost_difference_usd=None))
    assert "+$0.12" in message.text


def test_failed_job__error_escaped_and_no_model_to_use():
    message = job_finished_message(
        job_payload(
            status="failed",
            fine_tuned_model=None,
            error={
                "code": "invalid_training_file",
                "message": "bad <b>&</b> line 3",
                "param": "training_file",
            },
        )
    )
    assert message.blocks[0]["text"]["text"] == ":x: Fine-tuning job failed"
    text = _all_text(message.blocks)
    assert (
        "`invalid_training_file`: bad &lt;b&gt;&amp;&lt;/b&gt; line 3 (param `training_file`)"
        in text
    )
    assert "Model to use" not in text
    assert message.text.endswith("Error invalid_training_file: bad <b>&</b> line 3")


def test_cancelled_job_without_figures():
    message = job_finished_message(
        job_payload(
            status="cancelled",
            fine_tuned_model=None,
            trained_tokens=None,
            actual_cost_usd=None,
            cost_difference_usd=None,
            duration_seconds=None,
        )
    )
    assert message.text == "Fine-tuning job ftjob-abc123 (gpt-3.5-turbo-0613) was cancelled"
    fields = [f["text"] for f in message.blocks[2]["fields"]]
    assert fields == ["*Duration*\nunknown", "*Actual cost*\nnot known yet", "*Estimate*\n$2.40"]


def test_slack_launcher_is_mentioned_others_are_quoted():
    assert "launched by <@U0LAUNCH1>" in _all_text(job_finished_message(job_payload()).blocks)
    other = job_finished_message(job_payload(launched_by="<!channel> api"))
    assert "launched by &lt;!channel&gt; api" in _all_text(other.blocks)


def test_long_error_messages_stay_within_block_kit_limits():
    message = job_finished_message(
        job_payload(status="failed", error={"code": "x", "message": "y" * 10_000})
    )
    for block in message.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    assert len(message.text) <= 3000


def test_tpm_above_and_below():
    above = tpm_threshold_message(tpm_payload(state="above", utilisation="83.1"))
    assert (
        above.text == "gpt-3.5-turbo TPM pool at 83.1% of its limit (threshold 80%): "
        "831,000 of 1,000,000 tokens/min"
    )
    assert above.blocks[0]["text"]["text"] == ":warning: gpt-3.5-turbo rate-limit pool above 80%"
    fields = [f["text"] for f in above.blocks[2]["fields"]]
    assert fields == [
        "*Tokens per minute*\n831,000 of 1,000,000",
        "*Requests per minute*\n1,200 of 10,000",
    ]
    below = tpm_threshold_message(tpm_payload(state="below", utilisation="41.0"))
    assert below.text.startswith("gpt-3.5-turbo TPM pool back below 80%: 41.0%")


def test_unknown_event_kind_gets_a_plain_message():
    assert (
        render_event("budget.exceeded", "ml-platform", {}).text
        == "ratecard event budget.exceeded for ml-platform"
    )


def test_durations():
    assert [format_duration(s) for s in (0, 59, 61, 3600, 3723.9, 90061, None, "x", -1)] == [
        "0s",
        "59s",
        "1m 01s",
        "1h 00m",
        "1h 02m",
        "25h 01m",
        None,
        None,
        None,
    ]
