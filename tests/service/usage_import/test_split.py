"""The import keeps the Usage API's Batch flag, service tier and cached-input tokens per bucket:
the split the bill's Batch, tier and cached-input lines are reconciled against."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from service.db import session_scope
from service.usage_import.models import ImportedUsage
from service.usage_import.store import ImportedDay, imported_daily_usage
from tests.service.usage_import.conftest import Importer
from tests.service.usage_import.support import PageFaults

NOW = datetime(2025, 6, 2, 12, 30, 5, tzinfo=UTC)
OLD_HOUR = datetime(2025, 5, 31, 10, 0, tzinfo=UTC)  # imported in hour buckets
RECENT = datetime(2025, 6, 2, 11, 15, tzinfo=UTC)  # imported in minute buckets
SNAPSHOT = "gpt-4o-mini-2024-07-18"


def ts(moment: datetime, seconds: int = 0) -> int:
    return int(moment.timestamp()) + seconds


def _seed(fake: PageFaults) -> None:
    for at in (ts(OLD_HOUR, 90), ts(RECENT, 10)):
        fake.add_completions_usage(
            at=at, model=SNAPSHOT, input_tokens=1000, input_cached_tokens=400, output_tokens=100
        )
        fake.add_completions_usage(
            at=at,
            model=SNAPSHOT,
            input_tokens=5000,
            input_cached_tokens=1000,
            output_tokens=700,
            num_model_requests=20,
            batch=True,
        )
    fake.add_completions_usage(
        at=ts(RECENT, 20), model=SNAPSHOT, input_tokens=200, output_tokens=20, service_tier="flex"
    )


def _stored(importer: Importer) -> dict[tuple[int, bool, str], tuple[int, int, int, int]]:
    with session_scope(importer.app.state.engine) as session:
        rows = session.exec(select(ImportedUsage)).all()
        return {
            (r.start, r.batch, r.service_tier): (
                r.input_tokens,
                r.input_cached_tokens,
                r.output_tokens,
                r.requests,
            )
            for r in rows
        }


def test_split__batch_tier_and_cached_input_are_stored_per_bucket(
    importer: Importer, fake: PageFaults
):
    _seed(fake)

    run = importer.run(NOW)

    assert run["outcome"] == "ok"
    assert _stored(importer) == {
        (ts(OLD_HOUR), False, "default"): (1000, 400, 100, 1),
        (ts(OLD_HOUR), True, "default"): (5000, 1000, 700, 20),
        (ts(RECENT), False, "default"): (1000, 400, 100, 1),
        (ts(RECENT), True, "default"): (5000, 1000, 700, 20),
        (ts(RECENT), False, "flex"): (200, 0, 20, 1),
    }


def test_split__reads_back_per_day_as_the_bill_splits_it(importer: Importer, fake: PageFaults):
    _seed(fake)
    importer.run(NOW)

    with session_scope(importer.app.state.engine) as session:
        days = imported_daily_usage(session, start_ts=ts(OLD_HOUR) - 36_000, end_ts=ts(NOW))

    day = ts(RECENT) // 86_400
    assert days == {
        (day - 2, SNAPSHOT): [
            ImportedDay(False, "default", 1000, 400, 100),
            ImportedDay(True, "default", 5000, 1000, 700),
        ],
        (day, SNAPSHOT): [
            ImportedDay(False, "default", 1000, 400, 100),
            ImportedDay(False, "flex", 200, 0, 20),
            ImportedDay(True, "default", 5000, 1000, 700),
        ],
    }


def test_split__a_reimport_and_a_late_correction_replace_the_split(
    importer: Importer, fake: PageFaults
):
    _seed(fake)
    importer.run(NOW)
    first = _stored(importer)

    importer.run(NOW)
    assert _stored(importer) == first  # fetched twice, stored once

    # OpenAI later reports more Batch traffic in the same minute, half of it from the cache.
    fake.add_completions_usage(
        at=ts(RECENT, 40),
        model=SNAPSHOT,
        input_tokens=600,
        input_cached_tokens=300,
        output_tokens=50,
        batch=True,
    )
    importer.run(NOW.replace(minute=45))

    corrected = _stored(importer)
    assert corrected[(ts(RECENT), True, "default")] == (5600, 1300, 750, 21)  # not added twice
    assert corrected[(ts(RECENT), False, "default")] == (1000, 400, 100, 1)
    assert len(corrected) == len(first)
