"""How imported and reported usage combine into one per-minute figure.

**The rule.** Both sources measure the same requests: a client reports what it sent, OpenAI's
Usage API reports everything the organisation sent (late, and per minute, hour or day). Adding
them would count every instrumented request twice; so, per model and per imported bucket, the
figure is the larger of the two:

    combined(bucket) = max(reported over the bucket's span, imported bucket)   (field by field)

For a minute bucket that is simply ``max(reported, imported)`` of the minute. For an hour or day
bucket the reported minutes keep their shape and only the excess OpenAI saw beyond them
(``imported - reported``, when positive) is spread evenly over the bucket's minutes, so the
span's total is the max and nothing is counted twice.

Each minute says where its figure came from: ``reported`` (clients only), ``imported`` (the
Usage API only) or ``both`` (clients reported it and an imported bucket covers it).

**Peaks are never invented.** A minute that received an evenly spread share of an hour or day
bucket is ``estimated``; the peak and 95th percentile are computed without those shares, from
reported usage and imported minute buckets only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlmodel import Session

from service.usage.store import BUCKETS, Counts
from service.usage_import.store import ImportedFigure, figures

MINUTE = 60


@dataclass
class MinuteFigure:
    """One minute of one family, both sources combined."""

    counts: Counts = field(default_factory=Counts)
    exact: Counts = field(default_factory=Counts)  # without evenly spread hour/day shares
    reported: bool = False
    imported: bool = False
    estimated: bool = False

    @property
    def source(self) -> str | None:
        if self.reported and self.imported:
            return "both"
        if self.reported:
            return "reported"
        return "imported" if self.imported else None


def _reported_by_model(
    session: Session, *, org: str, family: str, start_ts: int, end_ts: int, exclude: str | None
) -> dict[tuple[str, int], Counts]:
    c = BUCKETS.c
    minute = (c.bucket - c.bucket % MINUTE).label("minute")
    query = (
        select(
            c.model,
            minute,
            func.sum(c.tokens),
            func.sum(c.requests),
            func.sum(c.prompt_tokens),
            func.sum(c.completion_tokens),
        )
        .where(c.org == org, c.family == family, c.bucket >= start_ts, c.bucket < end_ts)
        .group_by(c.model, minute)
    )
    if exclude is not None:
        query = query.where(c.model != exclude)
    return {
        (str(model), int(m)): Counts(int(t or 0), int(r or 0), int(p or 0), int(cp or 0))
        for model, m, t, r, p, cp in session.execute(query)
    }


def _spread(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` whole shares differing by at most one, the larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _as_counts(figure: ImportedFigure) -> Counts:
    # The Usage API reports what was used; the TPM rule's max_tokens reservation is unknown here.
    return Counts(
        tokens=figure.input_tokens + figure.output_tokens,
        requests=figure.requests,
        prompt_tokens=figure.input_tokens,
        completion_tokens=figure.output_tokens,
    )


def _excess(imported: Counts, reported: Counts) -> Counts:
    return Counts(
        max(imported.tokens - reported.tokens, 0),
        max(imported.requests - reported.requests, 0),
        max(imported.prompt_tokens - reported.prompt_tokens, 0),
        max(imported.completion_tokens - reported.completion_tokens, 0),
    )


def combined_model_minutes(
    session: Session,
    *,
    org: str,
    family: str,
    start_ts: int,
    end_ts: int,
    exclude_model: str | None = None,
) -> dict[tuple[str, int], MinuteFigure]:
    """Every (model, minute) of ``[start_ts, end_ts)`` with usage, both sources combined by the
    rule above, optionally without one model's traffic (its pool key)."""
    imported = [
        f
        for f in figures(session, org=org, family=family, start_ts=start_ts, end_ts=end_ts)
        if f.model_key != exclude_model
    ]
    # Reported usage over every imported bucket's whole span, not just the range asked for.
    lo = min([start_ts, *(f.start for f in imported)])
    hi = max([end_ts, *(f.start + f.width for f in imported)])
    reported = _reported_by_model(
        session, org=org, family=family, start_ts=lo, end_ts=hi, exclude=exclude_model
    )
    minutes: dict[tuple[str, int], MinuteFigure] = {}

    def at(key: tuple[str, int]) -> MinuteFigure:
        found = minutes.get(key)
        if found is None:
            found = minutes[key] = MinuteFigure()
        return found

    for (model, minute), counts in reported.items():
        if start_ts <= minute < end_ts and counts.requests + counts.tokens:
            figure = at((model, minute))
            figure.counts = figure.counts + counts
            figure.exact = figure.exact + counts
            figure.reported = True
    for bucket in imported:
        counts = _as_counts(bucket)
        if not counts.requests + counts.tokens:
            continue
        span = range(bucket.start, bucket.start + bucket.width, MINUTE)
        seen = Counts()
        for minute in span:
            seen = seen + reported.get((bucket.model_key, minute), Counts())
        excess = _excess(counts, seen)
        shares = zip(
            _spread(excess.tokens, len(span)),
            _spread(excess.requests, len(span)),
            _spread(excess.prompt_tokens, len(span)),
            _spread(excess.completion_tokens, len(span)),
            strict=True,
        )
        for minute, share in zip(span, shares, strict=True):
            if not start_ts <= minute < end_ts:
                continue
            figure = at((bucket.model_key, minute))
            figure.imported = True
            added = Counts(*share)
            figure.counts = figure.counts + added
            if bucket.width == MINUTE:
                figure.exact = figure.exact + added
            elif added != Counts():
                figure.estimated = True
    return minutes


def combined_minutes(
    session: Session,
    *,
    org: str,
    family: str,
    start_ts: int,
    end_ts: int,
    exclude_model: str | None = None,
) -> dict[int, MinuteFigure]:
    """Every minute of ``[start_ts, end_ts)`` (minute-aligned) with usage, both sources combined,
    all models of the pool together, optionally without one model's traffic (its pool key).

    Planning reads traffic here too, so reported and imported usage are never added twice."""
    minutes: dict[int, MinuteFigure] = {}
    for (_, minute), figure in combined_model_minutes(
        session,
        org=org,
        family=family,
        start_ts=start_ts,
        end_ts=end_ts,
        exclude_model=exclude_model,
    ).items():
        total = minutes.setdefault(minute, MinuteFigure())
        total.counts = total.counts + figure.counts
        total.exact = total.exact + figure.exact
        total.reported = total.reported or figure.reported
        total.imported = total.imported or figure.imported
        total.estimated = total.estimated or figure.estimated
    return minutes
