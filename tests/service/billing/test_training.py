"""OpenAI's billed training figure per job: attributed only where it can be told apart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from service.billing.models import CostLine
from service.billing.training import billed_for_job
from service.db import create_db_engine, migrate, session_scope
from service.jobs.models import Job
from service.reports.service import training_spend

MINI = "gpt-4o-mini-2024-07-18"
GPT4O = "gpt-4o-2024-08-06"
DAY = date(2025, 3, 10)


def job(job_id: str, model: str, tokens: int, *, finished: date = DAY) -> Job:
    return Job(
        id=job_id, openai_job_id=f"ftjob-{job_id}", source="launch", status="succeeded",
        launcher="admin", requested_model=model, model=model,
        estimated_cost_usd=Decimal("1"), actual_cost_usd=Decimal("1"), trained_tokens=tokens,
        created_at=datetime(2025, 3, 3, 12, tzinfo=UTC),
        finished_at=datetime(finished.year, finished.month, finished.day, 23, 59, tzinfo=UTC),
    )  # fmt: skip


def training_line(
    day: date,
    model: str,
    amount: str,
    quantity: int,
    project: str = "proj_1",
    currency: str = "usd",
) -> CostLine:
    return CostLine(
        day=day, project_id=project, line_item=f"ft-{model} training", currency=currency,
        amount=Decimal(amount), quantity=quantity, import_id=1, model=model, kind="training",
        component="training", fine_tuned=True,
    )  # fmt: skip


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    migrate(engine)
    with session_scope(engine) as session:
        # Two mini jobs on the 10th (two projects' lines), told apart by the lines' quantities;
        # one more on the 11th whose line matches no quantity but is the only mini job that day;
        # two gpt-4o jobs on the 10th and one gpt-4o line matching neither: not attributable.
        for row in (
            job("mini_a", MINI, 100_000),
            job("mini_b", MINI, 250_000),
            job("mini_c", MINI, 300_000, finished=date(2025, 3, 11)),
            job("big_a", GPT4O, 10_000),
            job("big_b", GPT4O, 20_000),
            training_line(DAY, MINI, "0.30", 100_000),
            training_line(DAY, MINI, "0.75", 250_000, project="proj_2"),
            training_line(date(2025, 3, 11), MINI, "0.93", 310_000),
            training_line(DAY, GPT4O, "0.75", 30_000),
            # Billed in euros: not added to dollar figures, whatever it matches.
            training_line(DAY, MINI, "9.00", 100_000, project="proj_3", currency="eur"),
        ):
            session.add(row)
    yield engine
    engine.dispose()


def test_billed__by_job_attributes_exact_quantities_and_lone_jobs_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        report = training_spend(
            session, date_from=date(2025, 3, 1), date_to=date(2025, 3, 31), group_by="job"
        )
        by_month = training_spend(
            session, date_from=date(2025, 3, 1), date_to=date(2025, 3, 31), group_by="month"
        )
        views = {j: billed_for_job(session, job=session.get_one(Job, j)) for j in ("mini_a",)}

    billed = {row.group: row.billed_usd for row in report.rows}
    assert billed == {
        "mini_a": "0.30",  # the line whose quantity is its trained tokens
        "mini_b": "0.75",
        "mini_c": "0.93",  # the day's only mini job: the day's mini line is its
        "big_a": None,  # two gpt-4o jobs, one line matching neither: cannot be told apart
        "big_b": None,
    }
    assert report.totals.billed_usd == "2.73"  # dollars only
    assert [row.billed_usd for row in by_month.rows] == ["2.73"]
    assert views == {"mini_a": "0.30"}  # the job view gives the report's figure


def test_billed__by_job_reads_a_fixed_number_of_statements(engine: Engine) -> None:
    """The report by job asks once for all its jobs, not once per job (100,000 jobs took
    minutes when each asked on its own)."""
    with session_scope(engine) as session:
        session.add_all(job(f"more_{n}", MINI, 1_000 + n) for n in range(40))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(engine) as session:
            report = training_spend(
                session, date_from=date(2025, 3, 1), date_to=date(2025, 3, 31), group_by="job"
            )
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(report.rows) == 45
    assert len(statements) < 15, statements
