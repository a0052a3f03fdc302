"""GPT-5.6 bills prompt-cache writes on lines of their own: a week of imported traffic with cache
writes in every tier reconciles with those lines to the cent, and the writes of an older model
stay on its input line, as OpenAI bills them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI

from pricing.money import cost_of_tokens
from pricing.price_fields import price_field
from service.db import session_scope
from service.prices.service import load_reference
from service.usage_import.service import run_import
from tests.fakes.fake_openai import FakeOpenAIState, ManualClock
from tests.service.billing.conftest import ADMIN_KEY, BillingEnv, unix

WEEK = [date(2026, 11, 9) + timedelta(days=n) for n in range(7)]
CENT = Decimal("0.01")
SOL, OLDER = "gpt-5.6-sol", "gpt-5.5-2026-04-23"  # GPT-5.5 has no cache-write price
TRAFFIC = ((SOL, "inference"), (SOL, "batch"), (SOL, "priority"), (OLDER, "inference"))
FIXED_DAY = WEEK[2]  # exactly 1M written to the cache: $5.00 at gpt-5.6-sol's standard price


@pytest.fixture
def fake(fake_costs_server: tuple[FastAPI, str]) -> Iterator[FakeOpenAIState]:
    state = FakeOpenAIState(clock=ManualClock(start=unix(date(2026, 11, 17))), api_key=ADMIN_KEY)
    fake_costs_server[0].state.fake = state
    yield state


def _label(model: str, kind: str, component: str) -> str:
    what = component.replace("_", " ")
    return f"{model}, {what}" if kind == "inference" else f"{model}, {kind} {what}"


def _generate(env: BillingEnv) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """Usage OpenAI reports and its bill at the reference's prices: (day, line) -> (usd, tokens)."""
    rng = random.Random(86)
    bill: dict[tuple[str, str], tuple[Decimal, int]] = {}
    with session_scope(env.app.state.engine) as session:
        reference = load_reference(session)
    for day in WEEK:
        lines: dict[tuple[str, str, str], int] = {}
        for model, kind in TRAFFIC:
            prompt, completion = rng.randint(100_000, 5_000_000), rng.randint(1_000, 500_000)
            cached = rng.randint(0, prompt // 2)
            written = rng.randint(0, prompt - cached)
            if (day, model, kind) == (FIXED_DAY, SOL, "inference"):
                prompt, cached, written = 3_000_000, 1_000_000, 1_000_000
            env.fake.add_completions_usage(
                at=unix(day, 5400 + 60 * len(lines)), model=model, input_tokens=prompt,
                input_cached_tokens=cached, input_cache_write_tokens=written,
                output_tokens=completion, project_id="proj_main", batch=kind == "batch",
                service_tier="priority" if kind == "priority" else "default",
            )  # fmt: skip
            # OpenAI bills GPT-5.6's writes on their own line; GPT-5.5's as input.
            own_line = model == SOL
            for component, tokens in (
                ("input", prompt - cached - (written if own_line else 0)),
                ("cached_input", cached),
                ("cache_write", written if own_line else 0),
                ("output", completion),
            ):
                if tokens:
                    lines[(model, kind, component)] = tokens
        for (model, kind, component), tokens in lines.items():
            quote = reference.book.quote(model, as_of=day)
            tier = "standard" if kind == "inference" else kind
            amount = cost_of_tokens(tokens, quote.require(price_field(component, tier=tier)))
            line = _label(model, kind, component)
            env.fake.add_cost(
                at=unix(day, 7200), amount=amount, line_item=line, project_id="proj_main",
                quantity=tokens, quantity_unit="tokens",
            )  # fmt: skip
            bill[(day.isoformat(), line)] = (amount, tokens)
    return bill


def test_reconciliation__cache_write_lines_match_to_the_cent(env: BillingEnv) -> None:
    bill = _generate(env)
    usage = run_import(
        engine=env.app.state.engine,
        settings=env.app.state.settings.model_copy(update={"import_backfill_days": 10}),
        trigger="manual",
        now=datetime(2026, 11, 17, tzinfo=UTC),
    )
    assert usage["outcome"] == "ok", usage
    window = {"start": "2026-11-09", "end": "2026-11-16"}
    response = env.admin.post("/v1/billing/imports", json=window)
    assert response.status_code == 201, response.text

    response = env.reader.get(
        "/v1/billing/reconciliation",
        params={"from": "2026-11-09", "to": "2026-11-15", "group_by": ["day", "line_item"]},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    rows = {(r["group"]["day"], r["group"]["line_item"]): r for r in report["rows"]}
    assert set(rows) == set(bill)  # no computed line without a billed one, nor the reverse
    for key, (amount, tokens) in bill.items():
        row = rows[key]
        assert not row["flagged"], row
        assert abs(Decimal(row["billed_usd"]) - amount) < Decimal("1e-6")  # stored to 6 places
        assert Decimal(row["computed_usd"]).quantize(CENT) == amount.quantize(CENT), row
        assert Decimal(row["computed_quantity"]) == tokens, row
    assert report["unmapped"] == []

    cache_writes = {line for _, line in bill if "cache write" in line}
    assert cache_writes == {
        f"{SOL}, cache write", f"{SOL}, batch cache write", f"{SOL}, priority cache write"
    }  # fmt: skip
    fixed = rows[(FIXED_DAY.isoformat(), f"{SOL}, cache write")]
    assert Decimal(fixed["computed_usd"]) == Decimal(5)  # 1M at $5.00 (1.25x the $4 input)
    assert Decimal(fixed["computed_quantity"]) == 1_000_000
