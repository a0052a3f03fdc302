"""What a fine-tuned model serves, read from the per-minute usage history.

Reported usage (``POST /v1/usage``) and traffic imported from OpenAI's Usage API land in the
same buckets, split by model (the full ``ft:`` name), so one read answers for both. Traffic is
averaged over a window of whole days ending now: requests per day are the window's requests
divided by its days, and the peak is the busiest minute of the model in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session

from pricing.migration import Traffic
from service.settings import Settings
from service.usage import store
from service.usage.capacity import effective_limit, pool_row
from service.usage.store import Counts
from service.usage.windows import from_ts, to_ts

DEFAULT_DAYS = 7
MAX_DAYS = 31


@dataclass(frozen=True)
class ModelTraffic:
    model: str
    family: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    peak_tokens_per_minute: int
    last_seen: datetime | None
    days: int

    def as_traffic(self) -> Traffic:
        requests = Decimal(self.requests)
        return Traffic(
            requests_per_day=requests / self.days,
            prompt_tokens=Decimal(0) if not requests else Decimal(self.prompt_tokens) / requests,
            completion_tokens=(
                Decimal(0) if not requests else Decimal(self.completion_tokens) / requests
            ),
            peak_tokens_per_minute=self.peak_tokens_per_minute,
            source=traffic_source(),
        )


def traffic_source() -> str:
    """Where figures come from: reported usage and imported Usage API share one history."""
    return "observed"


def window(now: datetime, days: int) -> tuple[int, int]:
    """[start, end) in Unix seconds: ``days`` whole days up to the end of the current minute."""
    end = to_ts(now)
    end = end - end % 60 + 60
    return end - days * 86_400, end


def pool_minutes(
    session: Session,
    *,
    org: str,
    family: str,
    start_ts: int,
    end_ts: int,
    exclude_model: str | None = None,
) -> dict[int, Counts]:
    """A pool's usage per minute, optionally without one model: the one place planning reads
    the history, so traffic imported from OpenAI's Usage API joins here (combined with reported
    usage, never added to it) and every planning figure sees it."""
    return store.minute_totals(
        session,
        org=org,
        family=family,
        start_ts=start_ts,
        end_ts=end_ts,
        exclude_model=exclude_model,
    )


def fine_tuned_traffic(
    session: Session, *, org: str, now: datetime, days: int = DEFAULT_DAYS
) -> dict[str, ModelTraffic]:
    """Every fine-tuned model with usage in the window, keyed by its name as reported.

    One statement for all models (per minute, then per model: totals and busiest minute): reading
    each model's minutes through ``pool_minutes`` costs a pool scan per model (about 100 ms
    each at a week of traffic, bench/bench_planning.py).
    """
    start, end = window(now, days)
    c = store.BUCKETS.c
    minute = (c.bucket - c.bucket % 60).label("minute")
    # Catalogue ids never contain ':'; every ft: (and legacy davinci:ft-) name does.
    per_minute = (
        select(
            c.family,
            c.model,
            func.sum(c.tokens).label("tokens"),
            func.sum(c.requests).label("requests"),
            func.sum(c.prompt_tokens).label("prompt"),
            func.sum(c.completion_tokens).label("completion"),
            func.max(c.bucket).label("last"),
        )
        .where(c.org == org, c.bucket >= start, c.bucket < end, c.model.contains(":"))
        .group_by(c.family, c.model, minute)
        .subquery()
    )
    m = per_minute.c
    rows = session.execute(
        select(
            m.family,
            m.model,
            func.sum(m.requests),
            func.sum(m.prompt),
            func.sum(m.completion),
            func.max(m.tokens),
            func.max(m.last),
        ).group_by(m.family, m.model)
    ).all()
    out: dict[str, ModelTraffic] = {}
    for family, model, requests, prompt, completion, peak, last_bucket in rows:
        out[model] = ModelTraffic(
            model=model,
            family=family,
            requests=int(requests or 0),
            prompt_tokens=int(prompt or 0),
            completion_tokens=int(completion or 0),
            peak_tokens_per_minute=int(peak or 0),
            last_seen=None if last_bucket is None else from_ts(int(last_bucket)),
            days=days,
        )
    return out


def requests_since(session: Session, *, org: str, model: str, since: datetime) -> int:
    """Requests a model received from ``since`` on (traffic after a shutdown is failing)."""
    c = store.BUCKETS.c
    total = session.execute(
        select(func.sum(c.requests)).where(c.org == org, c.model == model, c.bucket >= to_ts(since))
    ).scalar()
    return int(total or 0)


@dataclass(frozen=True)
class PoolState:
    family: str
    tokens_per_minute_limit: int | None
    limit_source: str | None
    existing_peak_tokens_per_minute: int


def pool_state(
    session: Session,
    *,
    org: str,
    family: str,
    now: datetime,
    days: int,
    settings: Settings,
    moving_model: str | None,
) -> PoolState:
    """The replacement's pool: its limit and its busiest minute without the model that moves."""
    start, end = window(now, days)
    minutes = pool_minutes(
        session, org=org, family=family, start_ts=start, end_ts=end, exclude_model=moving_model
    )
    limit = effective_limit(
        pool_row(session, org=org, family=family), family=family, settings=settings
    )
    return PoolState(
        family=family,
        tokens_per_minute_limit=limit.tokens_per_minute,
        limit_source=limit.tokens_source,
        existing_peak_tokens_per_minute=max((m.tokens for m in minutes.values()), default=0),
    )
