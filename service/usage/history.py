"""A pool's usage per minute over a range, with its peak and 95th percentile.

Reported and imported usage combine by the rule in :mod:`service.usage_import.combine`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from service.errors import InvalidInput
from service.settings import Settings
from service.usage import store
from service.usage.capacity import limit_out, pool_row
from service.usage.names import resolve_family
from service.usage.windows import from_ts, nearest_rank, to_ts
from service.usage_import.combine import MinuteFigure, combined_minutes

MAX_HISTORY = timedelta(days=31)


def history(
    session: Session,
    *,
    org: str,
    family: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Per-minute series over [start, end) (every minute it overlaps), with peak and p95."""
    family = resolve_family(session, family, as_of=now)
    end = end or now
    start = start or end - timedelta(hours=1)
    if start >= end:
        raise InvalidInput("`from` must be before `to`", code="bad_range")
    if end - start > MAX_HISTORY:
        raise InvalidInput(
            f"a history covers at most {MAX_HISTORY.days} days; ask for a shorter range",
            code="bad_range",
        )
    if end > now + timedelta(days=1):
        raise InvalidInput(
            "`to` is more than a day ahead; no usage is recorded there", code="bad_range"
        )
    first_minute = to_ts(start) - to_ts(start) % 60
    end_ts = to_ts(end) - to_ts(end) % 60
    if end_ts < end.timestamp():
        end_ts += 60  # the minute `to` falls in is part of the range
    # Reported and imported usage, combined without double counting (service.usage_import).
    combined = combined_minutes(
        session, org=org, family=family, start_ts=first_minute, end_ts=end_ts
    )
    empty = MinuteFigure()
    figures = [(minute, combined.get(minute, empty)) for minute in range(first_minute, end_ts, 60)]
    series = [(minute, f.counts) for minute, f in figures]
    # Peaks and p95 leave out evenly spread hour/day shares: they would invent peak minutes.
    exact = [(minute, f.exact) for minute, f in figures]
    peak_t = max(exact, key=lambda item: item[1].tokens)
    peak_r = max(exact, key=lambda item: item[1].requests)
    total = store.sum_counts(c for _, c in series)
    pool = pool_row(session, org=org, family=family)
    return {
        "org": org,
        "family": family,
        "start": from_ts(first_minute),
        "end": from_ts(end_ts),
        "minutes": [
            {
                "minute": from_ts(minute),
                "tokens": c.tokens,
                "requests": c.requests,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "source": f.source,
                "estimated": f.estimated,
            }
            for (minute, c), (_, f) in zip(series, figures, strict=True)
        ],
        "total": {
            "tokens": total.tokens,
            "requests": total.requests,
            "prompt_tokens": total.prompt_tokens,
            "completion_tokens": total.completion_tokens,
        },
        "peak": {
            "tokens_per_minute": peak_t[1].tokens,
            "tokens_minute": from_ts(peak_t[0]) if peak_t[1].tokens else None,
            "requests_per_minute": peak_r[1].requests,
            "requests_minute": from_ts(peak_r[0]) if peak_r[1].requests else None,
        },
        "p95": {
            "tokens_per_minute": nearest_rank([c.tokens for _, c in exact], 95),
            "requests_per_minute": nearest_rank([c.requests for _, c in exact], 95),
        },
        "limit": limit_out(pool, org=org, family=family, settings=settings),
    }
