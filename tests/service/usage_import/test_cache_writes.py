"""The import keeps the Usage API's cache-write tokens per bucket (GPT-5.6 bills them apart), and
importing a window again replaces them, rows imported before they were stored included."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlmodel import select

from service.db import session_scope
from service.usage_import.models import ImportedUsage, UsageImportCursor
from service.usage_import.store import ImportedDay, imported_daily_usage
from tests.service.usage_import.conftest import Importer
from tests.service.usage_import.support import PageFaults

NOW = datetime(2026, 11, 20, 12, 30, 5, tzinfo=UTC)
OLD_HOUR = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # imported in hour buckets
RECENT = datetime(2026, 11, 20, 11, 15, tzinfo=UTC)  # imported in minute buckets
SOL = "gpt-5.6-sol"


def ts(moment: datetime, seconds: int = 0) -> int:
    return int(moment.timestamp()) + seconds


def _seed(fake: PageFaults) -> None:
    for at in (ts(OLD_HOUR, 90), ts(RECENT, 10)):
        fake.add_completions_usage(
            at=at,
            model=SOL,
            input_tokens=10_000,
            input_cached_tokens=3_000,
            input_cache_write_tokens=2_000,
            output_tokens=500,
        )
        fake.add_completions_usage(
            at=at,
            model=SOL,
            input_tokens=4_000,
            input_cache_write_tokens=1_000,
            output_tokens=100,
            batch=True,
        )


def _writes(importer: Importer) -> dict[tuple[int, bool], tuple[int, int, int]]:
    with session_scope(importer.app.state.engine) as session:
        return {
            (r.start, r.batch): (r.input_tokens, r.input_cached_tokens, r.input_cache_write_tokens)
            for r in session.exec(select(ImportedUsage)).all()
        }


def test_cache_writes__are_stored_per_bucket_and_read_back_per_day(
    importer: Importer, fake: PageFaults
):
    _seed(fake)

    assert importer.run(NOW)["outcome"] == "ok"

    assert _writes(importer) == {
        (ts(OLD_HOUR), False): (10_000, 3_000, 2_000),
        (ts(OLD_HOUR), True): (4_000, 0, 1_000),
        (ts(RECENT), False): (10_000, 3_000, 2_000),
        (ts(RECENT), True): (4_000, 0, 1_000),
    }
    with session_scope(importer.app.state.engine) as session:
        days = imported_daily_usage(session, start_ts=ts(RECENT) - 3_600, end_ts=ts(NOW))
    assert days == {
        (ts(RECENT) // 86_400, SOL): [
            ImportedDay(False, "default", 10_000, 3_000, 500, input_cache_write_tokens=2_000),
            ImportedDay(True, "default", 4_000, 0, 100, input_cache_write_tokens=1_000),
        ]
    }


def test_cache_writes__a_late_correction_replaces_them(importer: Importer, fake: PageFaults):
    _seed(fake)
    importer.run(NOW)

    fake.add_completions_usage(
        at=ts(RECENT, 40),
        model=SOL,
        input_tokens=600,
        input_cache_write_tokens=600,
        output_tokens=0,
    )
    importer.run(NOW.replace(minute=45))

    stored = _writes(importer)
    assert stored[(ts(RECENT), False)] == (10_600, 3_000, 2_600)  # replaced, not added twice
    assert stored[(ts(OLD_HOUR), False)] == (10_000, 3_000, 2_000)


def test_cache_writes__rows_imported_before_0023_are_replaced_when_their_window_is_imported_again(
    importer: Importer, fake: PageFaults
):
    """The upgrade path the README gives: rows stored before the column (0 cache writes) are
    replaced by a re-import of their window; forgetting the cursor re-imports the backfill."""
    _seed(fake)
    importer.run(NOW)
    with session_scope(importer.app.state.engine) as session:
        old = session.exec(select(ImportedUsage).where(ImportedUsage.start == ts(OLD_HOUR))).all()
        for row in old:
            row.input_cache_write_tokens = 0  # as migration 0023 leaves an older row
            session.add(row)
    assert _writes(importer)[(ts(OLD_HOUR), False)] == (10_000, 3_000, 0)

    importer.run(NOW.replace(minute=40))
    assert _writes(importer)[(ts(OLD_HOUR), False)] == (10_000, 3_000, 0)  # the cursor is past it

    with session_scope(importer.app.state.engine) as session:
        session.execute(delete(UsageImportCursor))
    assert importer.run(NOW.replace(minute=45))["outcome"] == "ok"

    stored = _writes(importer)
    assert stored[(ts(OLD_HOUR), False)] == (10_000, 3_000, 2_000)
    assert stored[(ts(OLD_HOUR), True)] == (4_000, 0, 1_000)
    assert len(stored) == 4
