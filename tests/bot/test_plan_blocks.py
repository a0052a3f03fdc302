"""The /plan replies and parser as pure functions: data in, Block Kit (or a typed request) out."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bot.blocks.plan import countdown_text, fine_tuned_list, migration_plan
from bot.flows.plan import plan_request
from bot.parsing import Help, UsageError
from bot.parsing.plan import PlanList, PlanModel, Volume, parse_plan
from service.planning.schemas import (
    CostOut,
    Countdown,
    FineTunedModelOut,
    InventoryOut,
    LastFineTuneOut,
    PlanOut,
    PoolFitOut,
    ScenarioOut,
    TrafficOut,
)
from tests.bot.harness import texts

MODEL = "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"


def _countdown(days: int | None, state: str = "deprecated") -> Countdown:
    return Countdown(
        state=state,
        shutdown_date=None if days is None else date(2027, 1, 14),
        days_left=days,
        replacement="gpt-6-luna",
    )


def _model(name: str = MODEL, days: int | None = 38, traffic: bool = True) -> FineTunedModelOut:
    return FineTunedModelOut(
        model=name,
        base="gpt-4o-mini-2024-07-18",
        family="gpt-4o-mini",
        method="supervised",
        job_id=None,
        trained_tokens=None,
        training_cost_usd=None,
        training_cost_basis=None,
        sources=["usage"],
        countdown=_countdown(days),
        traffic=TrafficOut(
            source="observed",
            days=7,
            requests=7000,
            requests_per_day="1000.00",
            avg_prompt_tokens="200.00",
            avg_completion_tokens="100.00",
            peak_tokens_per_minute=1200,
        )
        if traffic
        else None,
    )


def _cost(month: str, request: str = "0.00018") -> CostOut:
    return CostOut(
        price_version="2026-12-01",
        tier="standard",
        prompt_tokens=2000,
        completion_tokens=100,
        requests_per_day=1000,
        cost_per_request_usd=request,
        cost_per_day_usd="0",
        cost_per_month_usd=month,
    )


def _scenario(name: str, fits: bool | None, headroom: int | None) -> ScenarioOut:
    return ScenarioOut(
        name=name,
        model=name,
        recommended=name == "gpt-6-luna",
        added_prompt_tokens=1800,
        cost=_cost("7.50", "0.00025"),
        change_per_month_usd="2.10",
        change_percent="38.9",
        pool=PoolFitOut(
            family=name,
            tokens_per_minute_limit=None if fits is None else 10_000,
            limit_source=None,
            existing_peak_tokens_per_minute=5000,
            migrated_peak_tokens_per_minute=8400,
            peak_tokens_per_minute=13400,
            headroom_tokens_per_minute=headroom,
            fits=fits,
        ),
        warnings=[],
    )


def test_countdown_text__days_left_shut_down_or_none() -> None:
    assert countdown_text(_countdown(38)) == (
        ":large_orange_circle: 38 days left (shuts down 2027-01-14)"
    )
    assert countdown_text(_countdown(1)) == ":red_circle: 1 day left (shuts down 2027-01-14)"
    assert countdown_text(_countdown(0, "shut_down")) == ":red_circle: shut down on 2027-01-14"
    assert countdown_text(_countdown(None, "available")) == (
        ":large_green_circle: no shutdown announced"
    )


def test_fine_tuned_list__one_section_per_model_with_countdown_and_traffic() -> None:
    inventory = InventoryOut(
        as_of=datetime(2026, 12, 7),
        org="default",
        openai="unavailable: OpenAIUnavailable",
        fine_tuning_closes=date(2027, 1, 6),
        models=[_model(), _model("ft:gpt-4.1-2025-04-14:acme::x", traffic=False)],
        unresolved=[],
    )

    message = fine_tuned_list(inventory)

    text = texts(message)
    assert message["text"].startswith("2 fine-tuned model(s) by days left")
    assert "no new fine-tuning job from 2027-01-06" in text
    assert "1,000 requests/day" in text and "no traffic seen" in text
    assert "OpenAI's model list: unavailable" in text
    assert all(len(b.get("text", {}).get("text", "")) < 3000 for b in message["blocks"])


def test_fine_tuned_list__empty() -> None:
    inventory = InventoryOut(
        as_of=datetime(2026, 12, 7),
        org="o",
        openai="read",
        fine_tuning_closes=None,
        models=[],
        unresolved=[],
    )
    assert "No fine-tuned models found" in texts(fine_tuned_list(inventory))


def test_migration_plan__countdown_beside_each_scenario_and_the_last_fine_tune() -> None:
    plan = PlanOut(
        as_of=datetime(2026, 12, 7),
        model=_model(),
        today=_cost("5.40"),
        scenarios=[_scenario("gpt-6-luna", None, None), _scenario("gpt-4o-mini", False, -3400)],
        last_fine_tune=LastFineTuneOut(
            possible=True,
            reason="accepted",
            base="gpt-4o-mini-2024-07-18",
            last_day_to_launch=date(2027, 1, 5),
            training_cost_usd="12.00",
            serves_days=38,
            against="gpt-6-luna",
            saving_per_day_usd="0.07",
            net_saving_usd="-9.34",
            pays_for_itself=False,
        ),
    )

    message = migration_plan(plan)

    text = texts(message)
    assert message["blocks"][0]["text"]["text"] == f"What happens to {MODEL}?"
    assert "38 days left (shuts down 2027-01-14)" in text
    assert "$5.40/month" in text
    assert "gpt-6-luna (recommended)" in text and "$7.50/month (+$2.10, +38.9%)" in text
    assert ":grey_question: peak 13,400 TPM, limit unknown" in text
    assert ":x: peak 13,400 of 10,000 TPM: over by 3,400" in text
    assert "does not pay for itself" in text and "launch by 2027-01-05" in text
    assert "gpt-6-luna $7.50/month" in message["text"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", PlanList()),
        ("list days=3", PlanList(3)),
        ("help", Help("/plan")),
        (
            f"{MODEL} to=gpt-5-mini,gpt-4o-mini cut=90% answer=150 tier=batch days=2",
            PlanModel(
                MODEL, ("gpt-5-mini", "gpt-4o-mini"), Decimal("90.0"), None, 150, "batch", None, 2
            ),
        ),
        (
            f"{MODEL} add=1.5k per_day=10k prompt=200 completion=100",
            PlanModel(MODEL, (), None, 1500, None, "standard", Volume(10_000, 200, 100)),
        ),
    ],
)
def test_parse_plan__forms(text: str, expected: Any) -> None:
    assert parse_plan(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpt-4o-mini", "not a fine-tuned model"),
        (f"{MODEL} cut=90% add=100", "not both"),
        (f"{MODEL} tier=priority", "standard, batch or flex"),
        (f"{MODEL} per_day=10", "together"),
        (f"{MODEL} colour=blue", "unknown option colour="),
        ("list days=40", "between 1 and 31"),
    ],
)
def test_parse_plan__usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_plan(text)
    assert message in caught.value.message


def test_plan_request__recommended_first_then_named_models_alike() -> None:
    parsed = parse_plan(f"{MODEL} to=gpt-5-mini cut=90% per_day=10 prompt=2 completion=1")
    assert isinstance(parsed, PlanModel)
    body = plan_request(parsed)
    assert [(s.model, s.prompt_cut_pct) for s in body.scenarios] == [
        ("recommended", Decimal("90.0")),
        ("gpt-5-mini", Decimal("90.0")),
    ]
    assert body.volume is not None and body.volume.requests_per_day == 10
