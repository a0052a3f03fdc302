"""SQL of the usage import: replace a window's buckets, read them back per minute.

A window is one complete query of the Usage API over ``[start, end)``. Committing it deletes
every imported row starting inside the window (of any width) and upserts what was fetched, in one
transaction: a bucket fetched twice is stored once, a late correction replaces the earlier figure,
a group that vanished upstream vanishes here, and the window never holds two widths at once
(so minute and hour buckets of the same span can never both count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, select
from sqlmodel import Session, SQLModel

from service.usage.store import dialect_insert
from service.usage_import.models import ImportedUsage, UsageImportCursor

IMPORTED: Table = SQLModel.metadata.tables[ImportedUsage.__tablename__]
CURSOR: Table = SQLModel.metadata.tables[UsageImportCursor.__tablename__]
_KEY = ["org", "model", "start", "width", "project_id", "batch", "service_tier"]
_VALUES = [
    "family",
    "model_key",
    "input_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "output_tokens",
    "requests",
    "imported_at",
]


@dataclass(frozen=True)
class ImportedFigure:
    """Imported traffic of one model in one bucket, summed over projects and service tiers."""

    model_key: str
    start: int
    width: int
    input_tokens: int
    output_tokens: int
    requests: int


def replace_window(
    session: Session, *, org: str, start: int, end: int, rows: Sequence[dict[str, object]]
) -> None:
    session.execute(
        delete(IMPORTED).where(
            IMPORTED.c.org == org, IMPORTED.c.start >= start, IMPORTED.c.start < end
        )
    )
    if rows:
        base = dialect_insert(session, IMPORTED)
        stmt = base.on_conflict_do_update(
            index_elements=_KEY, set_={name: base.excluded[name] for name in _VALUES}
        )
        # Sorted: one lock order, so two importers writing the same window cannot deadlock.
        session.execute(stmt, sorted(rows, key=lambda r: tuple(str(r[k]) for k in _KEY)))


def prune(session: Session, *, before_ts: int) -> int:
    """Forget imported buckets past the usage retention (the same horizon as reported usage)."""
    result = session.execute(delete(IMPORTED).where(IMPORTED.c.start < before_ts))
    return int(getattr(result, "rowcount", 0) or 0)


def covered_until(session: Session, *, org: str) -> int | None:
    value = session.execute(select(CURSOR.c.covered_until).where(CURSOR.c.org == org)).scalar()
    return None if value is None else int(value)


def advance_cursor(session: Session, *, org: str, until: int) -> None:
    """Move the cursor forward (never back: a slower importer may commit an older window)."""
    base = dialect_insert(session, CURSOR)
    session.execute(
        base.values(org=org, covered_until=until).on_conflict_do_update(
            index_elements=["org"],
            set_={"covered_until": func.max(CURSOR.c.covered_until, base.excluded.covered_until)}
            if session.get_bind().dialect.name == "sqlite"
            else {
                "covered_until": func.greatest(CURSOR.c.covered_until, base.excluded.covered_until)
            },
        )
    )


def figures(
    session: Session, *, org: str, family: str, start_ts: int, end_ts: int
) -> list[ImportedFigure]:
    """Non-batch imported buckets of the family overlapping ``[start_ts, end_ts)``.

    Batch requests do not draw from the per-minute pool (the Batch API has its own queue limit),
    so they stay out of pools and history."""
    c = IMPORTED.c
    query = (
        select(
            c.model_key,
            c.start,
            c.width,
            func.sum(c.input_tokens),
            func.sum(c.output_tokens),
            func.sum(c.requests),
        )
        .where(
            c.org == org,
            c.family == family,
            c.start < end_ts,
            c.start > start_ts - 86_400,  # no bucket is wider than a day
            c.batch.is_(False),
        )
        .group_by(c.model_key, c.start, c.width)
    )
    return [
        ImportedFigure(str(m), int(s), int(w), int(i or 0), int(o or 0), int(r or 0))
        for m, s, w, i, o, r in session.execute(query)
        if int(s) + int(w) > start_ts
    ]


def imported_fine_tuned_families(session: Session, *, org: str, start: int, end: int) -> list[str]:
    """Families with imported (non-batch) fine-tuned traffic in ``[start, end)``."""
    c = IMPORTED.c
    query = (
        select(c.family)
        .where(
            c.org == org,
            c.start < end,
            c.start + c.width > start,
            c.model_key.contains(":"),
            c.batch.is_(False),
        )
        .distinct()
    )
    return [str(f) for f in session.execute(query).scalars()]


def imported_requests_since(session: Session, *, org: str, model: str, since: int) -> int:
    """Imported (non-batch) requests of one model in buckets starting at ``since`` or later."""
    c = IMPORTED.c
    total = session.execute(
        select(func.sum(c.requests)).where(
            c.org == org, c.model_key == model, c.start >= since, c.batch.is_(False)
        )
    ).scalar()
    return int(total or 0)


@dataclass(frozen=True)
class ImportedDay:
    """One day of one model's imported traffic in one processing tier, every organisation."""

    batch: bool
    service_tier: str  # as OpenAI reports it ("default", "flex", "priority", ...); "" if absent
    input_tokens: int  # all input, cached and cache writes included (as the Usage API counts it)
    input_cached_tokens: int
    output_tokens: int
    input_cache_write_tokens: int = 0


def imported_daily_usage(
    session: Session, *, start_ts: int, end_ts: int
) -> dict[tuple[int, str], list[ImportedDay]]:
    """Imported traffic per (day number, model key), split by batch and service tier, for
    buckets starting in ``[start_ts, end_ts)``: what the bill splits into its line items."""
    c = IMPORTED.c
    day_no = (c.start // 86_400).label("day_no")
    query = (
        select(
            day_no,
            c.model_key,
            c.batch,
            c.service_tier,
            func.sum(c.input_tokens),
            func.sum(c.input_cached_tokens),
            func.sum(c.output_tokens),
            func.sum(c.input_cache_write_tokens),
        )
        .where(c.start >= start_ts, c.start < end_ts)
        .group_by(day_no, c.model_key, c.batch, c.service_tier)
        .order_by(day_no, c.model_key, c.batch, c.service_tier)
    )
    out: dict[tuple[int, str], list[ImportedDay]] = {}
    for d, m, batch, tier, i, cached, o, written in session.execute(query):
        day = ImportedDay(
            bool(batch), str(tier), int(i or 0), int(cached or 0), int(o or 0), int(written or 0)
        )
        out.setdefault((int(d), str(m)), []).append(day)
    return out
