"""Importing OpenAI's Usage API: once per bucket, corrections replace, nothing lost on failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.db import session_scope
from service.usage.prune import prune
from tests.service.usage_import.conftest import Importer
from tests.service.usage_import.support import USAGE, PageFaults

# 12:30 makes the minute window (from 12:00 the day before) 1,470 buckets: two pages.
NOW = datetime(2025, 6, 2, 12, 30, 5, tzinfo=UTC)
OLD_HOUR = datetime(2025, 5, 31, 10, 0, tzinfo=UTC)  # imported in hour buckets
RECENT = datetime(2025, 6, 2, 11, 0, tzinfo=UTC)  # imported in minute buckets
MINI = "gpt-4o-mini"


def ts(moment: datetime, seconds: int = 0) -> int:
    return int(moment.timestamp()) + seconds


def _seed(fake: PageFaults) -> None:
    fake.add_completions_usage(
        at=ts(OLD_HOUR, 20 * 60 + 30),
        model="gpt-4o-mini-2024-07-18",
        input_tokens=1000,
        output_tokens=200,
        num_model_requests=4,
    )
    fake.add_completions_usage(
        at=ts(RECENT, 15 * 60 + 10), model=MINI, input_tokens=300, output_tokens=50
    )
    # Batch traffic does not draw from the per-minute pool; an unknown model is kept aside.
    fake.add_completions_usage(
        at=ts(RECENT, 15 * 60), model=MINI, input_tokens=9000, output_tokens=0, batch=True
    )
    fake.add_completions_usage(
        at=ts(RECENT, 15 * 60), model="gpt-4o-mini-tts", input_tokens=5, output_tokens=5
    )


def _minute(body: dict, hh_mm: str) -> dict:
    return next(m for m in body["minutes"] if m["minute"].strftime("%H:%M") == hh_mm)


def test_import__first_run_backfills_hours_then_minutes(importer: Importer, fake: PageFaults):
    _seed(fake)

    run = importer.run(NOW)

    assert run["outcome"] == "ok" and run["errors"] == []
    assert [(w["width"], w["committed"]) for w in run["windows"]] == [("1h", True), ("1m", True)]
    assert run["windows"][0]["start"] == "2025-05-31T00:00:00+00:00"  # 2 backfill days
    assert run["windows"][1]["start"] == "2025-06-01T12:00:00+00:00"
    assert run["models"] == ["gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-mini-tts"]
    assert run["unknown_models"] == ["gpt-4o-mini-tts"]
    recent = importer.history(MINI, RECENT, NOW.replace(minute=0, second=0), NOW)
    assert recent["total"]["tokens"] == 350  # neither batch nor the unknown model
    assert _minute(recent, "11:15")["tokens"] == 350
    assert _minute(recent, "11:15")["source"] == "imported"
    assert recent["peak"]["tokens_per_minute"] == 350


def test_import__hour_buckets_spread_evenly_but_invent_no_peak(
    importer: Importer, fake: PageFaults
):
    _seed(fake)
    importer.run(NOW)

    old = importer.history(MINI, OLD_HOUR, OLD_HOUR.replace(hour=11), NOW)

    assert old["total"] == {
        "tokens": 1200,
        "requests": 4,
        "prompt_tokens": 1000,
        "completion_tokens": 200,
    }
    assert {m["tokens"] for m in old["minutes"]} == {20}  # 1,200 over 60 minutes
    assert [m["requests"] for m in old["minutes"][:5]] == [1, 1, 1, 1, 0]
    assert all(m["estimated"] and m["source"] == "imported" for m in old["minutes"])
    assert old["peak"]["tokens_per_minute"] == 0 and old["peak"]["tokens_minute"] is None
    assert old["p95"]["tokens_per_minute"] == 0


def test_import__a_bucket_fetched_twice_is_counted_once(importer: Importer, fake: PageFaults):
    _seed(fake)
    importer.run(NOW)
    rows = importer.stored_rows()

    again = importer.run(NOW)

    assert again["outcome"] == "ok"
    assert importer.stored_rows() == rows
    recent = importer.history(MINI, RECENT, NOW.replace(minute=0, second=0), NOW)
    assert recent["total"]["tokens"] == 350
    old = importer.history(MINI, OLD_HOUR, OLD_HOUR.replace(hour=11), NOW)
    assert old["total"]["tokens"] == 1200


def test_import__a_late_correction_replaces_the_earlier_figure(
    importer: Importer, fake: PageFaults
):
    _seed(fake)
    importer.run(NOW)
    # OpenAI later reports more usage in the same minute: its figure for the bucket is now 450.
    fake.add_completions_usage(
        at=ts(RECENT, 15 * 60 + 40), model=MINI, input_tokens=100, output_tokens=0
    )

    importer.run(NOW.replace(minute=45))

    recent = importer.history(MINI, RECENT, NOW.replace(minute=0, second=0), NOW)
    assert _minute(recent, "11:15")["tokens"] == 450  # replaced, not 350 + 450
    assert _minute(recent, "11:15")["requests"] == 2


def test_import__a_failed_later_page_stores_nothing_of_its_window_and_resumes(
    importer: Importer, fake: PageFaults
):
    _seed(fake)
    fake.add_completions_usage(
        at=ts(datetime(2025, 6, 1, 13, 0, 30, tzinfo=UTC)),
        model=MINI,
        input_tokens=70,
        output_tokens=0,
    )  # on the minute window's first page
    fake.fail_later_pages = 100  # the second page never arrives, retries included

    partial = importer.run(NOW)

    assert partial["outcome"] == "partial"
    hours, minutes = partial["windows"]
    assert hours["committed"] and not minutes["committed"] and "500" in minutes["error"]
    day_before = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)
    first_page = importer.history(MINI, day_before, day_before.replace(minute=1), NOW)
    assert first_page["total"]["tokens"] == 0  # page one arrived but was not stored alone
    assert importer.stored_rows() == 1  # the hour window's one row

    fake.fail_later_pages = 0
    resumed = importer.run(NOW)

    assert resumed["outcome"] == "ok"
    assert [w["width"] for w in resumed["windows"]] == ["1m"]  # the hours are not fetched again
    assert (
        importer.history(MINI, day_before, day_before.replace(minute=1), NOW)["total"]["tokens"]
        == 70
    )
    recent = importer.history(MINI, RECENT, NOW.replace(minute=0, second=0), NOW)
    assert recent["total"]["tokens"] == 350
    old = importer.history(MINI, OLD_HOUR, OLD_HOUR.replace(hour=11), NOW)
    assert old["total"]["tokens"] == 1200


def test_import__a_first_window_that_keeps_failing_stores_nothing_and_is_retried_next_run(
    importer: Importer, fake: PageFaults
):
    _seed(fake)
    fake.inject_fault("server_error", path="/v1/organization/usage/completions", times=3)

    failed = importer.run(NOW)

    assert failed["outcome"] == "failed" and len(failed["windows"]) == 1
    assert fake.request_counts[USAGE] == 3  # the first try and two retries, then it stops
    assert importer.stored_rows() == 0

    again = importer.run(NOW)
    assert again["outcome"] == "ok" and [w["width"] for w in again["windows"]] == ["1h", "1m"]
    old = importer.history(MINI, OLD_HOUR, OLD_HOUR.replace(hour=11), NOW)
    assert old["total"]["tokens"] == 1200


def test_import__imported_buckets_past_the_usage_retention_are_pruned(
    importer: Importer, fake: PageFaults
):
    _seed(fake)
    importer.run(NOW)
    settings = importer.app.state.settings
    assert importer.stored_rows() == 4
    with session_scope(importer.app.state.engine) as session:
        # Retention is 400 days: on the day the old hour turns 400 days old, it is still kept.
        prune(
            session, now=datetime(2025, 5, 31, tzinfo=UTC) + timedelta(days=400), settings=settings
        )
    assert importer.stored_rows() == 4
    with session_scope(importer.app.state.engine) as session:
        prune(
            session, now=datetime(2025, 6, 1, tzinfo=UTC) + timedelta(days=400), settings=settings
        )
    assert importer.stored_rows() == 3  # the old hour's row went; the recent minutes stay
