"""Ratecard's computed usage cost counts OpenAI-imported traffic, and never twice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from service.billing.computed import computed_figures
from service.db import session_scope
from service.prices.service import load_reference
from service.usage.models import UsageBucket
from service.usage_import.models import ImportedUsage
from tests.service.conftest import build_app

DAY = date(2026, 11, 2)
AT = int(datetime(2026, 11, 2, 10, 0, tzinfo=UTC).timestamp())
MINI = "gpt-4o-mini-2024-07-18"


def imported(
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    batch: bool = False,
    cached: int = 0,
    written: int = 0,
    tier: str = "default",
):
    return ImportedUsage(
        org="default",
        model=model,
        start=AT,
        width=3600,
        project_id="",
        batch=batch,
        service_tier=tier,
        family="gpt-4o-mini",
        model_key=model,
        input_tokens=input_tokens,
        input_cached_tokens=cached,
        input_cache_write_tokens=written,
        output_tokens=output_tokens,
        requests=10,
        imported_at=datetime(2026, 11, 3, tzinfo=UTC),
    )


def reported(prompt: int, completion: int) -> UsageBucket:
    return UsageBucket(
        org="default",
        family="gpt-4o-mini",
        bucket=AT + 60,
        model=MINI,
        tokens=prompt + completion,
        requests=3,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


def figures(app):
    with session_scope(app.state.engine) as session:
        return computed_figures(
            session, reference=load_reference(session), start=DAY, end=date(2026, 11, 3)
        )


def test_computed__traffic_only_openai_saw_is_priced(database_url, tmp_path):
    app = build_app(database_url, tmp_path)
    with session_scope(app.state.engine) as session:
        session.add(imported(MINI, 1_000_000, 500_000))
    out = figures(app)
    # 1M input at $0.15 and 0.5M output at $0.60 (gpt-4o-mini, standard).
    assert out[(DAY, MINI, "inference", "input", False)].amount == Decimal("0.15")
    assert out[(DAY, MINI, "inference", "output", False)].amount == Decimal("0.30")
    assert len(out) == 2


def test_computed__reported_and_imported_of_one_day_count_once(database_url, tmp_path):
    app = build_app(database_url, tmp_path)
    with session_scope(app.state.engine) as session:
        session.add(imported(MINI, 1_000_000, 500_000))
        session.add(reported(400_000, 100_000))  # a client reported part of the same traffic
    out = figures(app)
    assert out[(DAY, MINI, "inference", "input", False)].amount == Decimal("0.15")
    assert out[(DAY, MINI, "inference", "output", False)].amount == Decimal("0.30")


def test_computed__batch_tier_and_cached_input_are_each_priced_at_their_own_rate(
    database_url, tmp_path
):
    app = build_app(database_url, tmp_path)
    with session_scope(app.state.engine) as session:
        session.add(imported(MINI, 1_000_000, 500_000, cached=400_000))
        session.add(imported(MINI, 2_000_000, 1_000_000, batch=True))
    out = figures(app)

    def cell(kind: str, component: str) -> tuple[int, Decimal | None]:
        entry = out[(DAY, MINI, kind, component, False)]
        return entry.quantity, entry.amount

    # gpt-4o-mini on 2026-11-02: input $0.15, cached $0.075, output $0.60; Batch half of those.
    assert cell("inference", "input") == (600_000, Decimal("0.09"))
    assert cell("inference", "cached_input") == (400_000, Decimal("0.03"))
    assert cell("inference", "output") == (500_000, Decimal("0.30"))
    assert cell("batch", "input") == (2_000_000, Decimal("0.15"))
    assert cell("batch", "output") == (1_000_000, Decimal("0.30"))
    assert len(out) == 5  # no zero lines: no Batch cached input


def test_computed__flex_and_priority_traffic_is_priced_at_its_tier(database_url, tmp_path):
    app = build_app(database_url, tmp_path)
    gpt5_mini = "gpt-5-mini-2025-08-07"
    with session_scope(app.state.engine) as session:
        session.add(imported(gpt5_mini, 2_000_000, 1_000_000, tier="flex"))
        session.add(imported(gpt5_mini, 1_000_000, 0, tier="priority", cached=1_000_000))
        session.add(imported(MINI, 1_000_000, 0, tier="flex"))  # gpt-4o-mini has no flex price
    out = figures(app)
    amounts = {key[1:4]: entry.amount for key, entry in out.items()}
    assert amounts == {
        (gpt5_mini, "flex", "input"): Decimal("0.25"),  # $0.125 per 1M
        (gpt5_mini, "flex", "output"): Decimal("1"),  # $1 per 1M
        (gpt5_mini, "priority", "cached_input"): Decimal("0.045"),
        (MINI, "flex", "input"): None,  # unknown, never zero
    }


def test_computed__a_tier_without_a_price_is_unknown_never_zero(database_url, tmp_path):
    app = build_app(database_url, tmp_path)
    with session_scope(app.state.engine) as session:
        # gpt-4o-mini has no Batch cached-input price in the reference.
        session.add(imported(MINI, 1_000_000, 0, batch=True, cached=250_000))
    out = figures(app)
    unknown = out[(DAY, MINI, "batch", "cached_input", False)]
    assert unknown.amount is None and unknown.quantity == 250_000
    assert "usd_per_1m_batch_cached_input_tokens" in unknown.problems[0]
    assert out[(DAY, MINI, "batch", "input", False)].amount == Decimal("0.05625")


def test_computed__reported_usage_beyond_the_import_is_standard_uncached_and_batch_stays_apart(
    database_url, tmp_path
):
    app = build_app(database_url, tmp_path)
    with session_scope(app.state.engine) as session:
        session.add(imported(MINI, 1_000_000, 100_000, cached=200_000))
        session.add(imported(MINI, 3_000_000, 300_000, batch=True))
        # Clients reported more than the import holds so far (it lags): 1.5M prompt, 0.1M out.
        session.add(reported(1_500_000, 100_000))
    out = figures(app)
    quantities = {key[2:4]: entry.quantity for key, entry in out.items()}
    assert quantities == {
        # 800K imported uncached + the 500K only clients reported; the cached 200K split off.
        ("inference", "input"): 1_300_000,
        ("inference", "cached_input"): 200_000,
        ("inference", "output"): 100_000,  # the same figure from both: counted once
        ("batch", "input"): 3_000_000,
        ("batch", "output"): 300_000,
    }


def test_computed__gpt_5_6_cache_writes_are_priced_at_the_cache_write_price_of_their_tier(
    database_url, tmp_path
):
    app = build_app(database_url, tmp_path)
    sol = "gpt-5.6-sol"
    with session_scope(app.state.engine) as session:
        # Of 10M input: 3M read from the cache, 2M written to it, 5M uncached.
        session.add(imported(sol, 10_000_000, 1_000_000, cached=3_000_000, written=2_000_000))
        session.add(imported(sol, 4_000_000, 0, batch=True, written=1_000_000))
        session.add(imported(sol, 1_000_000, 0, tier="priority", written=1_000_000))
    out = figures(app)
    cells = {key[2:4]: (entry.quantity, entry.amount) for key, entry in out.items()}
    # gpt-5.6-sol on 2026-11-02 (version 2026-10-26): input $4, cached $0.40, cache write $5
    # (1.25x input), output $20; Batch half of each; priority twice.
    assert cells == {
        ("inference", "input"): (5_000_000, Decimal("20")),
        ("inference", "cached_input"): (3_000_000, Decimal("1.2")),
        ("inference", "cache_write"): (2_000_000, Decimal("10")),
        ("inference", "output"): (1_000_000, Decimal("20")),
        ("batch", "input"): (3_000_000, Decimal("6")),
        ("batch", "cache_write"): (1_000_000, Decimal("2.5")),
        ("priority", "cache_write"): (1_000_000, Decimal("10")),
    }
    assert out[(DAY, sol, "inference", "cache_write", False)].price_versions == {"2026-10-26"}


def test_computed__cache_writes_before_gpt_5_6_are_priced_as_input_on_the_input_line(
    database_url, tmp_path
):
    app = build_app(database_url, tmp_path)
    gpt55 = "gpt-5.5-2026-04-23"
    with session_scope(app.state.engine) as session:
        session.add(imported(MINI, 1_000_000, 0, cached=200_000, written=300_000))
        session.add(imported(gpt55, 2_000_000, 0, batch=True, written=2_000_000))
    out = figures(app)
    cells = {key[1:4]: (entry.quantity, entry.amount) for key, entry in out.items()}
    # No cache-write price before GPT-5.6: OpenAI bills the writes as input, on the input line.
    assert cells == {
        (MINI, "inference", "input"): (800_000, Decimal("0.12")),  # 500K + 300K at $0.15
        (MINI, "inference", "cached_input"): (200_000, Decimal("0.015")),
        (gpt55, "batch", "input"): (2_000_000, Decimal("5")),  # Batch input $2.50
    }


def test_computed__cache_writes_are_counted_once_beside_reported_usage(database_url, tmp_path):
    app = build_app(database_url, tmp_path)
    sol = "gpt-5.6-sol"
    with session_scope(app.state.engine) as session:
        session.add(imported(sol, 1_000_000, 0, written=400_000))
        bucket = reported(1_000_000, 0)  # a client reported the same requests
        bucket.model, bucket.family = sol, "gpt-5.6-sol"
        session.add(bucket)
    out = figures(app)
    quantities = {key[2:4]: entry.quantity for key, entry in out.items()}
    assert quantities == {("inference", "input"): 600_000, ("inference", "cache_write"): 400_000}
