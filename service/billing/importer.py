"""Import OpenAI's daily costs: fetch a window of days, then replace those days in one transaction.

Idempotent by construction: every day OpenAI returned a bucket for is deleted and written again
from that bucket, in the same transaction, so fetching a day twice (a retry, a second replica, a
manual run beside the schedule) leaves one copy of its figures. Nothing is written until every
page of the window has arrived, so a failure part-way (a 5xx after the retries, a page cut
short) loses nothing and half-writes nothing: the previous figures stay until a run completes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service.billing.lineitems import map_line_item
from service.billing.models import NO_PROJECT, CostImport, CostLine
from service.db import session_scope
from service.errors import Conflict, InvalidInput, UpstreamError
from service.openai.admin import CostBucket, OpenAIAdminClient, OpenAIAdminKeyRefused
from service.openai.errors import OpenAIError
from service.prices.service import load_reference
from service.settings import Settings
from service.types import utcnow

log = logging.getLogger(__name__)

# OpenAI still revises the last few days' costs; every scheduled run fetches them again.
REFETCH_DAYS = 3
MAX_WINDOW_DAYS = 366


class BillingNotConfigured(Conflict):
    """409, not 503: waiting does not help; the operator must set the admin key."""

    title = "Costs import is not configured"


class AdminKeyRefused(UpstreamError):
    title = "OpenAI refused the admin key"


@dataclass(frozen=True)
class FetchedLine:
    day: date
    project_id: str
    line_item: str
    currency: str
    amount: Decimal
    quantity: Decimal | None
    quantity_unit: str | None


def _day_of(unix: int) -> date:
    return datetime.fromtimestamp(unix, UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def default_window(session: Session, *, today: date, settings: Settings) -> tuple[date, date]:
    """A new installation backfills; afterwards a run re-reads from a few days before the end
    of the last successful run (so days missed while imports failed are caught up), never
    further back than the backfill window."""
    last_end = session.exec(
        select(func.max(CostImport.end_day)).where(CostImport.status == "succeeded")
    ).one()
    oldest = today - timedelta(days=settings.import_backfill_days)
    if last_end is None:
        return oldest, today + timedelta(days=1)
    start = min(today, last_end) - timedelta(days=REFETCH_DAYS)
    return max(oldest, start), today + timedelta(days=1)


def admin_client(settings: Settings) -> OpenAIAdminClient:
    if settings.openai_admin_key is None:
        raise BillingNotConfigured(
            "set RATECARD_OPENAI_ADMIN_KEY to an OpenAI organization admin key to import costs",
            code="costs_import_not_configured",
        )
    return OpenAIAdminClient(
        base_url=settings.openai_base_url,
        api_key=settings.openai_admin_key.get_secret_value(),
        organization=settings.openai_organization,
        timeout_seconds=settings.openai_timeout_seconds,
        max_retries=settings.openai_max_retries,
        backoff_base_seconds=settings.openai_backoff_seconds,
    )


async def _fetch(client: OpenAIAdminClient, start: date, end: date) -> list[CostBucket]:
    async with client:
        return [b async for b in client.iter_costs(start=_midnight(start), end=_midnight(end))]


def _lines(buckets: Iterable[CostBucket]) -> tuple[set[date], list[FetchedLine]]:
    days: set[date] = set()
    merged: dict[tuple[date, str, str, str], FetchedLine] = {}
    for bucket in buckets:
        day = _day_of(bucket.start_time)
        days.add(day)
        for r in bucket.results:
            key = (day, r.project_id or NO_PROJECT, r.line_item or "", r.amount.currency.lower())
            seen = merged.get(key)
            if seen is not None:  # defensive: one key twice in a bucket is added, not dropped
                quantity = (
                    None
                    if seen.quantity is None or r.quantity is None
                    else seen.quantity + r.quantity
                )
                merged[key] = FetchedLine(
                    *key, seen.amount + r.amount.value, quantity, seen.quantity_unit
                )
            else:
                merged[key] = FetchedLine(*key, r.amount.value, r.quantity, r.quantity_unit)
    return days, list(merged.values())


def replace_days(
    session: Session, *, import_id: int, days: set[date], lines: list[FetchedLine]
) -> None:
    """The fetched days' figures, exactly as fetched (and mapped), replacing what was there."""
    if not days:
        return
    reference = load_reference(session)
    session.execute(delete(CostLine).where(col(CostLine.day).in_(sorted(days))))
    now = utcnow()
    for line in sorted(lines, key=lambda x: (x.day, x.project_id, x.line_item, x.currency)):
        mapping = map_line_item(line.line_item, catalogue=reference.catalogue, as_of=line.day)
        session.add(
            CostLine(
                day=line.day,
                project_id=line.project_id,
                line_item=line.line_item,
                currency=line.currency,
                amount=line.amount,
                quantity=line.quantity,
                quantity_unit=line.quantity_unit,
                model=mapping.model,
                kind=mapping.kind,
                component=mapping.component,
                fine_tuned=mapping.fine_tuned,
                import_id=import_id,
                imported_at=now,
            )
        )


def run_import(
    engine: Engine,
    settings: Settings,
    *,
    trigger: str,
    requested_by: str | None = None,
    start: date | None = None,
    end: date | None = None,
    today: date | None = None,
) -> CostImport:
    """Fetch ``[start, end)`` (default: the backfill or re-read window) and store it."""
    client = admin_client(settings)
    today = today or utcnow().date()
    with session_scope(engine) as session:
        first, last = default_window(session, today=today, settings=settings)
        start, end = start or first, end or last
        if start >= end:
            raise InvalidInput("`start` must be before `end`", code="bad_range")
        if (end - start).days > MAX_WINDOW_DAYS:
            raise InvalidInput(f"import at most {MAX_WINDOW_DAYS} days at once", code="bad_range")
        run = CostImport(
            trigger=trigger, requested_by=requested_by, status="running",
            start_day=start, end_day=end,
        )  # fmt: skip
        session.add(run)
        session.flush()
        assert run.id is not None
        import_id = run.id
    try:
        buckets = asyncio.run(_fetch(client, start, end))
    except OpenAIAdminKeyRefused as exc:
        _finish(engine, import_id, status="failed", error=str(exc))
        raise AdminKeyRefused(str(exc), code="openai_admin_key_refused") from exc
    except OpenAIError as exc:
        _finish(engine, import_id, status="failed", error=str(exc))
        log.warning("costs import %s failed: %s", import_id, exc)
        raise UpstreamError(
            f"OpenAI's Costs API failed: {exc}; nothing was written, try again later",
            code="costs_import_failed",
        ) from exc
    days, lines = _lines(buckets)
    with session_scope(engine) as session:
        replace_days(session, import_id=import_id, days=days, lines=lines)
        run = session.get_one(CostImport, import_id)
        run.status, run.finished_at = "succeeded", utcnow()
        run.days, run.lines = len(days), len(lines)
        session.add(run)
    log.info("costs import %s: %s day(s), %s line(s)", import_id, len(days), len(lines))
    return run


def _finish(engine: Engine, import_id: int, *, status: str, error: str) -> None:
    with session_scope(engine) as session:
        run = session.get_one(CostImport, import_id)
        run.status, run.error, run.finished_at = status, error[:2000], utcnow()
        session.add(run)


def list_imports(session: Session, *, limit: int = 50) -> list[CostImport]:
    query = select(CostImport).order_by(col(CostImport.id).desc()).limit(limit)
    return list(session.exec(query).all())
