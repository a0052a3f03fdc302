"""The spend report's months are UTC calendar months, cut exactly at midnight on the 1st, whatever
time zone the database session is in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from service.db import create_db_engine, migrate, session_scope
from service.jobs.models import Job
from service.reports.service import month_ranges, training_spend

EDGES = [
    datetime(2026, 1, 14, 23, 59, 59, 999_999, tzinfo=UTC),  # before the range
    datetime(2026, 1, 15, tzinfo=UTC),
    datetime(2026, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 2, 1, tzinfo=UTC),
    datetime(2026, 3, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 4, 1, tzinfo=UTC),  # after the range
]


def test_month_ranges__cut_at_each_first_of_the_month() -> None:
    start, end = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    starts, ends = month_ranges(start, end)
    assert [s.date() for s in starts] == [date(2026, 1, 15), date(2026, 2, 1), date(2026, 3, 1)]
    assert [e.date() for e in ends] == [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    one_day = month_ranges(datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert one_day == ([datetime(2026, 12, 31, tzinfo=UTC)], [datetime(2027, 1, 1, tzinfo=UTC)])
    # The last representable day: no month after December 9999 is ever computed.
    last = month_ranges(datetime(9999, 12, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
    assert len(last[0]) == 1


def test_report__by_month_in_utc_months_whatever_the_session_time_zone(database_url) -> None:
    engine = create_db_engine(database_url)
    migrate(engine)
    with session_scope(engine) as session:
        for i, created in enumerate(EDGES):
            session.add(
                Job(
                    id=f"job_edge_{i}",
                    source="launch",
                    status="succeeded",
                    team="a",
                    launcher="t",
                    requested_model="gpt-4o-mini",
                    model="gpt-4o-mini-2024-07-18",
                    hyperparameters={},
                    created_at=created,
                    actual_cost_usd=Decimal(10**i),
                )
            )
    for zone in ("UTC", "Pacific/Auckland", "America/Los_Angeles"):
        with session_scope(engine) as session:
            if engine.dialect.name == "postgresql":
                session.execute(text(f"SET TIME ZONE '{zone}'"))
            report = training_spend(
                session, date_from=date(2026, 1, 15), date_to=date(2026, 3, 31), group_by="month"
            )
        rows = [(r.group, r.jobs, r.actual_usd) for r in report.rows]
        assert rows == [
            ("2026-01", 2, "110.00"),
            ("2026-02", 1, "1000.00"),
            ("2026-03", 1, "10000.00"),
        ], zone
        assert report.totals.jobs == 4
    engine.dispose()


def test_report__by_month_over_one_day_and_an_empty_range(database_url) -> None:
    engine = create_db_engine(database_url)
    migrate(engine)
    with session_scope(engine) as session:
        day = training_spend(
            session, date_from=date(2026, 2, 1), date_to=date(2026, 2, 1), group_by="month"
        )
        assert day.rows == [] and day.totals.jobs == 0
        created = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=23)
        session.add(
            Job(
                id="job_one",
                source="launch",
                status="running",
                launcher="t",
                requested_model="gpt-4o-mini",
                model="gpt-4o-mini-2024-07-18",
                hyperparameters={},
                created_at=created,
                estimated_cost_usd=Decimal("2.5"),
            )
        )
    with session_scope(engine) as session:
        day = training_spend(
            session, date_from=date(2026, 2, 1), date_to=date(2026, 2, 1), group_by="month"
        )
    assert [(r.group, r.jobs, r.estimated_usd, r.basis) for r in day.rows] == [
        ("2026-02", 1, "2.50", "estimated")
    ]
    engine.dispose()
