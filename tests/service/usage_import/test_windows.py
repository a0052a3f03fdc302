"""Which windows a run fetches: hours for the backfill and gaps, minutes for the last day."""

from __future__ import annotations

from datetime import UTC, datetime

from service.usage_import.service import Window, plan_windows

NOW = int(datetime(2025, 6, 2, 12, 30, 5, tzinfo=UTC).timestamp())
HOUR, DAY = 3600, 86_400
TODAY = NOW - NOW % DAY
RECENT = TODAY - DAY + 12 * HOUR  # 12:00 yesterday: the minute window starts on an hour
END = NOW - 5  # 12:30:00, the last whole minute's end


def test_windows__a_first_run_backfills_whole_days_in_week_long_hour_windows():
    windows = plan_windows(now_ts=NOW, covered_until=None, backfill_days=10)
    start = TODAY - 10 * DAY
    assert windows == [
        Window(start, start + 7 * DAY, "1h"),
        Window(start + 7 * DAY, RECENT, "1h"),
        Window(RECENT, END, "1m"),
    ]
    assert (RECENT - (start + 7 * DAY)) // HOUR <= 168  # each hour window is one page


def test_windows__a_regular_run_fetches_only_the_last_day_in_minutes():
    assert plan_windows(now_ts=NOW, covered_until=END - 900, backfill_days=30) == [
        Window(RECENT, END, "1m")
    ]


def test_windows__a_gap_resumes_at_the_cursor_hour_but_no_further_back_than_the_backfill():
    cursor = RECENT - 2 * DAY - 20 * 60  # the importer stopped two days ago, 40 min into an hour
    assert plan_windows(now_ts=NOW, covered_until=cursor, backfill_days=30) == [
        Window(cursor - 40 * 60, RECENT, "1h"),
        Window(RECENT, END, "1m"),
    ]
    ancient = NOW - 400 * DAY
    assert plan_windows(now_ts=NOW, covered_until=ancient, backfill_days=1)[0].start == TODAY - DAY
