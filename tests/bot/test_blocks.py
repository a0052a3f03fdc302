from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest

from bot import blocks
from bot.parsing import Launch, UsageError
from service.client import Job, JobPreview, ServiceClientError, Subscription
from service.estimates.schemas import InferenceEstimateOut, TrainingEstimateOut
from tests.bot.harness import texts

MONEY = re.compile(r"\$[\d,]+\.\d+")


def assert_slack_valid(msg: dict[str, Any]) -> None:
    """What Slack itself would refuse, and what a phone or screen reader needs: a fallback text."""
    assert isinstance(msg["text"], str) and msg["text"].strip()
    assert 0 < len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "actions":
            for element in block["elements"]:
                assert len(element["value"]) <= 2000 and len(element["action_id"]) <= 255
    json.dumps(msg)  # plain JSON, nothing Slack could not receive


def shown_money(msg: dict[str, Any]) -> list[str]:
    """Amounts a person sees outside the 'exact' context lines."""
    visible = [msg["text"]]
    for block in msg["blocks"]:
        if block["type"] != "context":
            visible.append(json.dumps(block))
    return MONEY.findall(" ".join(visible))


def training(**over: Any) -> TrainingEstimateOut:
    data = {
        "id": "est_1",
        "model": "gpt-3.5-turbo-0613",
        "requested_model": "gpt-3.5-turbo",
        "price_version": "2023-08-22",
        "as_of": date(2023, 9, 1),
        "n_examples": 5,
        "billing_tokens": 4306,
        "n_epochs": 20,
        "epochs_auto": True,
        "charged_tokens": 86120,
        "usd_per_1m_training_tokens": "8.00",
        "price_source": "public",
        "cost_usd": "1234.567891",
        "warnings": ["1 example is over the limit"],
        "format_errors": [],
        "dataset": {"truncated_examples": 1},
    }
    return TrainingEstimateOut.model_validate({**data, **over})


def test_training_estimate__two_decimals_shown_full_precision_in_context() -> None:
    msg = blocks.training_estimate(training(), source="train.jsonl")
    assert_slack_valid(msg)
    assert set(shown_money(msg)) == {"$1,234.57", "$8.00"}
    context = " ".join(
        e["text"] for b in msg["blocks"] if b["type"] == "context" for e in b["elements"]
    )
    assert "$1234.567891" in context and "2023-08-22" in context
    assert "$1,234.57" in msg["text"] and "86,120 charged tokens" in msg["text"]
    assert "truncated" in texts(msg) and "over the limit" in texts(msg)


def test_training_estimate__user_text_is_escaped() -> None:
    msg = blocks.training_estimate(training(), source="<!channel> & friends.jsonl")
    assert "&lt;!channel&gt; &amp; friends.jsonl" in texts(msg)


def inference(*, never: bool = False) -> InferenceEstimateOut:
    def scenario(
        name: str, model: str, month: str, request: str, prompt: int = 1500
    ) -> dict[str, Any]:
        return {
            "name": name,
            "model": model,
            "requested_model": model,
            "fine_tuned": model.startswith("ft:"),
            "price_version": "2023-11-06",
            "as_of": "2024-01-01",
            "prompt_tokens": prompt,
            "completion_tokens": 200,
            "requests_per_day": 10000,
            "usd_per_1m_input_tokens": "1.00",
            "usd_per_1m_output_tokens": "2.00",
            "price_source": "public",
            "cost_per_request_usd": request,
            "cost_per_day_usd": "19.00",
            "cost_per_month_usd": month,
        }

    return InferenceEstimateOut.model_validate(
        {
            "id": "est_2",
            "price_version": "2023-11-06",
            "as_of": date(2024, 1, 1),
            "cost_per_request_usd": "0.0019",
            "cost_per_day_usd": "19.00",
            "cost_per_month_usd": "570.00",
            "scenarios": [
                scenario("gpt-3.5-turbo", "gpt-3.5-turbo-1106", "570.00", "0.0019"),
                scenario(
                    "fine-tuned gpt-3.5-turbo-1106 (prompt cut 90%)",
                    "ft:gpt-3.5-turbo-1106:org::scenario",
                    "189.004",
                    "0.000630013",
                    prompt=150,
                ),
                scenario("gpt-4", "gpt-4-0613", "11700.00", "0.039"),
            ],
            "training": {"cost_usd": "8.00", "charged_tokens": 1000000},
            "break_even": [
                {
                    "against": "gpt-3.5-turbo",
                    "saving_per_request_usd": "0.00127",
                    "never": never,
                    "requests": None if never else 6300,
                    "days": None if never else "0.6",
                }
            ],
        }
    )


def test_inference_estimate__scenarios_side_by_side_with_break_even() -> None:
    msg = blocks.inference_estimate(inference())
    assert_slack_valid(msg)
    shown = texts(msg)
    assert "$189.00" in shown and "$570.00" in shown and "$11,700.00" in shown
    assert "cheapest" in shown and "150 prompt" in shown
    assert "6,300 requests" in shown and "0.6 days" in shown
    assert (
        "Per 1,000 requests*\n$0.63" in shown
    )  # $0.000630013 a request reads as cents per thousand
    assert all(len(m.split(".")[1]) == 2 for m in shown_money(msg) if "exact" not in m)
    assert "gpt-4: $11,700.00/month" in msg["text"]


def test_inference_estimate__says_when_training_never_pays() -> None:
    assert "never pays for its training" in texts(blocks.inference_estimate(inference(never=True)))


def preview(*, would_exceed: bool = False, budget: str | None = "500.00") -> JobPreview:
    return JobPreview.model_validate(
        {
            "estimate": {
                "model": "gpt-4o-mini-2024-07-18",
                "cost_usd": "12.3456",
                "n_epochs": 3,
                "epochs_auto": True,
                "charged_tokens": 4_115_200,
                "price_version": "2024-07-18",
                "warnings": [],
            },
            "budget": {
                "team": "ml-platform",
                "month": "2024-08",
                "monthly_budget_usd": budget,
                "spent_usd": "490.10",
                "remaining_usd": "9.90" if budget else None,
                "would_exceed": would_exceed,
            },
        }
    )


LAUNCH = Launch("gpt-4o-mini", "file-abc", suffix="bot", team="ml-platform")


def test_launch_preview__estimate_budget_and_buttons_carry_the_request() -> None:
    msg = blocks.launch_preview(
        preview(), LAUNCH, team="ml-platform", user_id="U0ALICE", channel_id="C0LAUNCH"
    )
    assert_slack_valid(msg)
    shown = texts(msg)
    assert "$12.35" in shown and "$500.00" in shown and "$490.10" in shown and "$9.90" in shown
    assert "Exact estimate $12.3456" in shown and "only <@U0ALICE> can launch" in shown
    actions = next(b for b in msg["blocks"] if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == [blocks.LAUNCH_ACTION, blocks.CANCEL_ACTION]
    value = json.loads(actions[0]["value"])
    assert value == {
        "by": "U0ALICE",
        "channel": "C0LAUNCH",
        "body": {
            "model": "gpt-4o-mini",
            "training_file": "file-abc",
            "hyperparameters": {
                "n_epochs": "auto",
                "batch_size": "auto",
                "learning_rate_multiplier": "auto",
            },
            "suffix": "bot",
            "validation_file": None,
            "team": "ml-platform",
        },
    }
    assert msg["response_type"] == "in_channel"


def test_launch_preview__over_budget_offers_no_launch_button() -> None:
    msg = blocks.launch_preview(
        preview(would_exceed=True),
        LAUNCH,
        team="ml-platform",
        user_id="U0ALICE",
        channel_id="C0LAUNCH",
    )
    actions = next(b for b in msg["blocks"] if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == [blocks.CANCEL_ACTION]
    assert "would exceed" in texts(msg) and "$9.90 left of $500.00" in texts(msg)


def test_launch_preview__team_without_budget() -> None:
    assert "no monthly budget set" in texts(
        blocks.launch_preview(
            preview(budget=None),
            LAUNCH,
            team="ml-platform",
            user_id="U0ALICE",
            channel_id="C0LAUNCH",
        )
    )


def job(**over: Any) -> Job:
    return Job.model_validate(
        {
            "id": "job_1",
            "openai_job_id": "ftjob-1",
            "status": "validating_files",
            "model": "gpt-4o-mini-2024-07-18",
            "team": "ml-platform",
            "estimated_cost_usd": "12.3456",
            **over,
        }
    )


def test_launch_messages__started_replayed_cancelled_and_not_yours() -> None:
    started = blocks.launch_started(job(), user_id="U0ALICE", replayed=False, notify="<#C0LAUNCH>")
    replayed = blocks.launch_started(job(), user_id="U0ALICE", replayed=True, notify=None)
    for msg in (
        started,
        replayed,
        blocks.launching("U0ALICE", "gpt-4o-mini"),
        blocks.launch_cancelled("U0ALICE", "gpt-4o-mini"),
        blocks.only_requester("U0ALICE"),
        blocks.launch_failed(
            ServiceClientError(409, "Conflict", "x"), user_id="U0ALICE", model="m"
        ),
    ):
        assert_slack_valid(msg)
    assert "`job_1`" in texts(started) and "<#C0LAUNCH> will hear when it finishes" in texts(
        started
    )
    assert "$12.35" in texts(started) and "$12.3456" in texts(started)
    assert "no second job was created" in texts(replayed)
    assert started["replace_original"] is True
    not_yours = blocks.only_requester("U0ALICE")
    assert not_yours["response_type"] == "ephemeral" and not_yours["replace_original"] is False
    assert "Only <@U0ALICE> can launch" in texts(not_yours)


def test_subscription_messages() -> None:
    sub = Subscription.model_validate(
        {
            "id": "sub_1",
            "destination": {"type": "slack", "channel": "C0LAUNCH"},
            "follows": {"type": "tpm", "family": "gpt-3.5-turbo", "threshold_pct": 80},
        }
    )
    me = Subscription.model_validate(
        {
            "id": "sub_2",
            "destination": {"type": "slack", "channel": "U0ALICE"},
            "follows": {"type": "job", "job_id": "job_1"},
        }
    )
    for msg in (
        blocks.subscribed(sub),
        blocks.subscription_list([sub, me]),
        blocks.subscription_list([]),
        blocks.unsubscribed("sub_1"),
    ):
        assert_slack_valid(msg)
        assert msg["response_type"] == "ephemeral"
    assert "<#C0LAUNCH> will hear about tokens per minute of *gpt-3.5-turbo* at 80%" in texts(
        blocks.subscribed(sub)
    )
    listing = texts(blocks.subscription_list([sub, me]))
    assert "`sub_1`" in listing and "job `job_1` → <@U0ALICE>" in listing
    assert "No subscriptions" in texts(blocks.subscription_list([]))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ServiceClientError(
                409,
                "Conflict",
                "over budget",
                "over_budget",
                {
                    "estimate_usd": "120.5",
                    "monthly_budget_usd": "500",
                    "spent_usd": "450.25",
                    "remaining_usd": "49.75",
                },
            ),
            ["$120.50", "$49.75 left of its $500.00", "spent $450.25", "Exact estimate $120.5"],
        ),
        (
            ServiceClientError(
                422,
                "Training file has format errors",
                "x",
                "format_errors",
                {
                    "format_errors": [
                        {
                            "kind": "missing_messages_list",
                            "count": 12,
                            "lines": list(range(3, 40, 3)),
                            "message": "no messages",
                        }
                    ]
                },
            ),
            ["*missing_messages_list* (12): no messages — line 3, 6, 9, 12, 15, 18, 21, 24…"],
        ),
        (
            ServiceClientError(
                402, "Payment required", "You exceeded your current quota", "insufficient_quota"
            ),
            ["run out of quota", "You exceeded your current quota"],
        ),
        (
            ServiceClientError(
                422,
                "Rejected",
                "invalid training_file: file-x",
                "openai_rejected",
                {"param": "training_file"},
            ),
            [
                "OpenAI rejected the job",
                "invalid training_file: file-x",
                "parameter: training_file",
            ],
        ),
        (
            ServiceClientError(
                422,
                "Unknown model",
                "Unknown model 'gpt4o'",
                None,
                {"model": "gpt4o", "suggestions": ["gpt-4o", "gpt-4"]},
            ),
            ["I don't know the model `gpt4o`. Did you mean `gpt-4o`, `gpt-4`?"],
        ),
        (
            ServiceClientError(401, "Not authenticated", "invalid or revoked API key"),
            ["RATECARD_SERVICE_API_KEY"],
        ),
        (
            ServiceClientError(
                503, "Service unreachable", "could not reach ratecard", "unreachable"
            ),
            ["Nothing was changed"],
        ),
    ],
)
def test_service_error__said_plainly_with_the_figures(
    error: ServiceClientError, expected: list[str]
) -> None:
    msg = blocks.service_error(error)
    assert_slack_valid(msg)
    assert msg["response_type"] == "ephemeral"
    for fragment in expected:
        assert fragment in texts(msg)


def test_help_usage_and_misc_messages() -> None:
    for command in ("/estimate", "/launch", "/notify"):
        msg = blocks.help_message(command)
        assert_slack_valid(msg)
        assert command in msg["text"] and msg["response_type"] == "ephemeral"
    usage = blocks.usage_error(UsageError("/launch", "which training file?"))
    assert_slack_valid(usage)
    assert "which training file?" in texts(usage) and "/launch <model> <training file id>" in texts(
        usage
    )
    for msg in (
        blocks.working("Counting…"),
        blocks.unexpected_error("abc123"),
        blocks.slack_file_problem("nope"),
    ):
        assert_slack_valid(msg)
    assert "abc123" in texts(blocks.unexpected_error("abc123"))


def test_usd__two_decimals_half_even_and_unknown_amounts() -> None:
    assert blocks.usd("2.405") == "$2.40"
    assert blocks.usd("2.415") == "$2.42"
    assert blocks.usd("1234567.891") == "$1,234,567.89"
    assert blocks.usd(None) == "—"
    assert (
        blocks.mention("U1") == "<@U1>"
        and blocks.mention("C1") == "<#C1>"
        and blocks.mention("D1") == "this DM"
    )


def test_inference_estimate__shows_the_lifecycle_warnings() -> None:
    warning = (
        "ft:gpt-4o-mini-2024-07-18:acme::x shuts down (with its base model) on 2027-01-14, "
        "39 days from 2026-12-06; OpenAI recommends gpt-6-luna"
    )
    est = inference().model_copy(update={"warnings": [warning]})
    assert warning in texts(blocks.inference_estimate(est))
