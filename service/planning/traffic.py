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
from service.usage_import.combine import MinuteFigure, combined_minutes, combined_model_minutes
from service.usage_import.store import imported_fine_tuned_families, imported_requests_since

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
    source: str = "reported"  # reported | imported | both (OpenAI's Usage API and clients)

    def as_traffic(self) -> Traffic:
        requests = Decimal(self.requests)
        return Traffic(
            requests_per_day=requests / self.days,
            prompt_tokens=Decimal(0) if not requests else Decimal(self.prompt_tokens) / requests,
            completion_tokens=(
                Decimal(0) if not requests else Decimal(self.completion_tokens) / requests
            ),
            peak_tokens_per_minute=self.peak_tokens_per_minute,
            source=self.source,
        )


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
    minutes = combined_minutes(
        session,
        org=org,
        family=family,
        start_ts=start_ts,
        end_ts=end_ts,
        exclude_model=exclude_model,
    )
    # Peaks come from exact figures only: an hour bucket's even shares invent no busy minute.
    return {minute: figure.exact for minute, figure in minutes.items()}


def fine_tuned_traffic(
    session: Session, *, org: str, now: datetime, days: int = DEFAULT_DAYS
) -> dict[str, ModelTraffic]:
    """Every fine-tuned model with usage in the window, keyed by its name as reported.

    Reported usage and the buckets imported from OpenAI's Usage API are combined by the import's
    rule (never added: service.usage_import.combine), one pool read per family that has any
    fine-tuned traffic, not one per model (bench/bench_planning.py).
    """
    start, end = window(now, days)
    out: dict[str, ModelTraffic] = {}
    for family in _families_with_fine_tuned_traffic(session, org=org, start=start, end=end):
        per_model: dict[str, list[tuple[int, MinuteFigure]]] = {}
        for (model, minute), figure in combined_model_minutes(
            session, org=org, family=family, start_ts=start, end_ts=end
        ).items():
            # Catalogue ids never contain ':'; every ft: (and legacy davinci:ft-) name does.
            if ":" in model:
                per_model.setdefault(model, []).append((minute, figure))
        for model, minutes in per_model.items():
            reported = any(f.reported for _, f in minutes)
            imported = any(f.imported for _, f in minutes)
            out[model] = ModelTraffic(
                model=model,
                family=family,
                requests=sum(f.counts.requests for _, f in minutes),
                prompt_tokens=sum(f.counts.prompt_tokens for _, f in minutes),
                completion_tokens=sum(f.counts.completion_tokens for _, f in minutes),
                peak_tokens_per_minute=max(f.exact.tokens for _, f in minutes),
                last_seen=from_ts(max(m for m, _ in minutes)),
                days=days,
                source="both" if reported and imported else "imported" if imported else "reported",
            )
    return out


def _families_with_fine_tuned_traffic(
    session: Session, *, org: str, start: int, end: int
) -> list[str]:
    c = store.BUCKETS.c
    reported = session.execute(
        select(c.family)
        .where(c.org == org, c.bucket >= start, c.bucket < end, c.model.contains(":"))
        .distinct()
    ).scalars()
    return sorted(
        {*reported, *imported_fine_tuned_families(session, org=org, start=start, end=end)}
    )


def requests_since(session: Session, *, org: str, model: str, since: datetime) -> int:
    """Requests a model received from ``since`` on (traffic after a shutdown is failing).

    Reported and imported figures measure the same requests: the larger total counts."""
    c = store.BUCKETS.c
    reported = session.execute(
        select(func.sum(c.requests)).where(c.org == org, c.model == model, c.bucket >= to_ts(since))
    ).scalar()
    imported = imported_requests_since(session, org=org, model=model, since=to_ts(since))
    return max(int(reported or 0), imported)


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
