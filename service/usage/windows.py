"""Time in the usage counters: 10-second buckets and the one-minute window.

Counters live in 10-second buckets. "Current" TPM/RPM is the sum of the bucket holding ``now`` and
the five before it (so the last 50-60 seconds, never more than a minute). History is the same
buckets summed per minute. Reads touch only the buckets they need: latency does not grow with
stored history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.usage.models import BUCKET_SECONDS

WINDOW_BUCKETS = 60 // BUCKET_SECONDS
MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=7)


def to_ts(moment: datetime) -> int:
    return int(moment.timestamp())


def bucket_start(ts: int) -> int:
    return ts - ts % BUCKET_SECONDS


def from_ts(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def current_window(now: datetime) -> tuple[int, int]:
    last = bucket_start(to_ts(now))
    return last - (WINDOW_BUCKETS - 1) * BUCKET_SECONDS, last


def nearest_rank(values: list[int], pct: int) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    rank = -(-len(ordered) * pct // 100)  # ceil without floats
    return ordered[max(rank, 1) - 1]
