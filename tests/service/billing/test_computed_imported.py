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


def imported(model: str, input_tokens: int, output_tokens: int, *, batch: bool = False):
    return ImportedUsage(
        org="default",
        model=model,
        start=AT,
        width=3600,
        project_id="",
        batch=batch,
        service_tier="default",
        family="gpt-4o-mini",
        model_key=model,
        input_tokens=input_tokens,
        input_cached_tokens=0,
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
        session.add(imported(MINI + "x", 1, 1, batch=True))  # batch: billed on its own line
    out = figures(app)
    # 1M input at $0.15 and 0.5M output at $0.60 (gpt-4o-mini, standard).
    assert out[(DAY, MINI, "inference", "input", False)].amount == Decimal("0.15")
    assert out[(DAY, MINI, "inference", "output", False)].amount == Decimal("0.30")


def test_computed__reported_and_imported_of_one_day_count_once(database_url, tmp_path):
    app = build_app(database_url, tmp_path)
    with session_scope(app.state.engine) as session:
        session.add(imported(MINI, 1_000_000, 500_000))
        session.add(reported(400_000, 100_000))  # a client reported part of the same traffic
    out = figures(app)
    assert out[(DAY, MINI, "inference", "input", False)].amount == Decimal("0.15")
    assert out[(DAY, MINI, "inference", "output", False)].amount == Decimal("0.30")
