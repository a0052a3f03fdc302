"""One import of OpenAI's Usage API: which windows to fetch, fetching them, committing them.

**Widths.** The last 24 hours are fetched in minute buckets on every run (one or two requests:
the API gives up to 1,440 minute buckets a page). Re-reading the whole day each time is what picks
up OpenAI's late corrections. Anything older — the first run's backfill of
``import_backfill_days`` and any gap left while no importer ran — is fetched in hour buckets, in
windows of 7 days (168 buckets, one page each). Day buckets are not used: hour buckets cost a
handful of requests for a month and keep the traffic's daily shape.

**Nothing lost or doubled.** A window is committed only once every page of it has arrived, in one
transaction (see :mod:`.store`), and the cursor moves to its end in that same transaction. A run
stops at the first window that fails (429 and 5xx are retried by the client first); the windows
before it stay committed and the next run starts at the cursor. A refused admin key is a setup
error: the run stops at once, records it, and logs it once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from pricing.errors import ModelNotAvailableError, UnknownModelError
from service.db import session_scope
from service.openai import OpenAIError
from service.openai.admin import (
    OpenAIAdminClient,
    OpenAIAdminKeyRefused,
    UsageBucket,
    UsageBucketWidth,
)
from service.prices.service import catalogue_for
from service.settings import Settings
from service.types import utcnow
from service.usage.names import default_org, model_key
from service.usage.windows import from_ts
from service.usage_import import store
from service.usage_import.models import UsageImportRun

log = logging.getLogger(__name__)

MINUTE, HOUR, DAY = 60, 3600, 86_400
RECENT_SECONDS = DAY  # re-imported in minute buckets on every run
HOUR_WINDOW_SECONDS = 168 * HOUR  # one page of hour buckets
GROUP_BY = ("model", "project_id", "batch", "service_tier")
NOT_CONFIGURED = (
    "no OpenAI admin key: set RATECARD_OPENAI_ADMIN_KEY to an organization admin key "
    "(sk-admin-...) with read access to usage to import traffic without instrumenting clients"
)
Trigger = Literal["schedule", "manual"]


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    width: UsageBucketWidth

    @property
    def seconds(self) -> int:
        return {"1m": MINUTE, "1h": HOUR, "1d": DAY}[self.width]


def plan_windows(*, now_ts: int, covered_until: int | None, backfill_days: int) -> list[Window]:
    """The windows of one run, oldest first (see the module docstring)."""
    end = now_ts - now_ts % MINUTE
    recent = end - RECENT_SECONDS
    recent -= recent % HOUR  # hour-aligned, so no hour bucket straddles the minute window
    since = now_ts - backfill_days * DAY
    since -= since % DAY
    if covered_until is not None:
        # Resume at the cursor, but never reach further back than a first run would.
        since = max(since, covered_until - covered_until % HOUR)
    windows = [
        Window(start, min(start + HOUR_WINDOW_SECONDS, recent), "1h")
        for start in range(since, recent, HOUR_WINDOW_SECONDS)
    ]
    if end > recent:
        windows.append(Window(recent, end, "1m"))
    return windows


def admin_client(settings: Settings) -> OpenAIAdminClient | None:
    if settings.openai_admin_key is None:
        return None
    return OpenAIAdminClient(
        base_url=settings.openai_base_url,
        api_key=settings.openai_admin_key.get_secret_value(),
        organization=settings.openai_organization,
        timeout_seconds=settings.openai_timeout_seconds,
        max_retries=settings.openai_max_retries,
        backoff_base_seconds=settings.openai_backoff_seconds,
    )


class _Resolver:
    """OpenAI's model names to (family, pool key), as of each bucket's day; "" when unknown."""

    def __init__(self, session: Session) -> None:
        self._catalogue = catalogue_for(session)
        self._cache: dict[tuple[str, int], tuple[str, str]] = {}
        self.unknown: set[str] = set()

    def __call__(self, name: str, at: int) -> tuple[str, str]:
        key = (name, at // DAY)
        found = self._cache.get(key)
        if found is None:
            try:
                resolved = self._catalogue.resolve(name, as_of=from_ts(at).date())
                found = (resolved.family, model_key(resolved))
            except (UnknownModelError, ModelNotAvailableError):
                self.unknown.add(name)
                found = ("", name)
            self._cache[key] = found
        return found


def _rows(
    buckets: list[UsageBucket], *, org: str, window: Window, resolve: _Resolver, now: datetime
) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for bucket in buckets:
        if not window.start <= bucket.start_time < window.end:
            continue
        for result in bucket.results:
            name = result.model or ""
            family, pool_key = resolve(name, bucket.start_time) if name else ("", "")
            row = {
                "org": org,
                "model": name,
                "start": bucket.start_time,
                "width": window.seconds,
                "project_id": result.project_id or "",
                "batch": bool(result.batch),
                "service_tier": result.service_tier or "",
                "family": family,
                "model_key": pool_key,
                "input_tokens": result.input_tokens,
                "input_cached_tokens": result.input_cached_tokens,
                "input_cache_write_tokens": result.input_cache_write_tokens,
                "output_tokens": result.output_tokens,
                "requests": result.num_model_requests,
                "imported_at": now,
            }
            key = tuple(row[k] for k in ("model", "start", "project_id", "batch", "service_tier"))
            rows[key] = row  # a bucket seen twice (a page repeated) is kept once
    return rows


def run_import(
    *,
    engine: Engine,
    settings: Settings,
    trigger: Trigger,
    now: datetime | None = None,
    client: OpenAIAdminClient | None = None,
) -> dict[str, Any]:
    """Import what is due now and record the run; never raises for OpenAI or setup errors."""
    started = now or utcnow()
    org = default_org(settings)
    run = UsageImportRun(org=org, trigger=trigger, outcome="ok", started_at=started)
    client = client or admin_client(settings)
    if client is None:
        run.outcome, run.errors = "not_configured", [NOT_CONFIGURED]
        log.warning("usage import skipped: %s", NOT_CONFIGURED)
        return _finish(engine, run)
    with session_scope(engine) as session:
        windows = plan_windows(
            now_ts=int(started.timestamp()),
            covered_until=store.covered_until(session, org=org),
            backfill_days=settings.import_backfill_days,
        )
        resolver = _Resolver(session)
    models: set[str] = set()

    async def go() -> None:
        async with client:
            for window in windows:
                entry: dict[str, Any] = {
                    "start": from_ts(window.start).isoformat(),
                    "end": from_ts(window.end).isoformat(),
                    "width": window.width,
                    "buckets": 0,
                    "rows": 0,
                    "committed": False,
                }
                run.windows = [*run.windows, entry]
                try:
                    buckets = [
                        bucket
                        async for bucket in client.iter_completions_usage(
                            start=from_ts(window.start),
                            end=from_ts(window.end),
                            bucket_width=window.width,
                            group_by=GROUP_BY,
                        )
                    ]
                except OpenAIAdminKeyRefused:
                    raise
                except OpenAIError as exc:
                    entry["error"] = str(exc)
                    run.errors = [*run.errors, f"{window.width} window {entry['start']}: {exc}"]
                    run.outcome = (
                        "partial" if any(w["committed"] for w in run.windows) else "failed"
                    )
                    log.warning(
                        "usage import: window %s..%s failed, resuming there next run: %s",
                        entry["start"],
                        entry["end"],
                        exc,
                    )
                    return
                rows = _rows(buckets, org=org, window=window, resolve=resolver, now=started)
                with session_scope(engine) as session:
                    store.replace_window(
                        session,
                        org=org,
                        start=window.start,
                        end=window.end,
                        rows=list(rows.values()),
                    )
                    store.advance_cursor(session, org=org, until=window.end)
                entry.update(buckets=len(buckets), rows=len(rows), committed=True)
                run.buckets += len(buckets)
                run.rows += len(rows)
                models.update(r["model"] for r in rows.values() if r["model"])

    try:
        asyncio.run(go())
    except OpenAIAdminKeyRefused as exc:
        run.outcome = "setup_error"
        run.errors = [*run.errors, str(exc)]
        log.warning("usage import stopped, a setup error (not retried until the next run): %s", exc)
    except Exception as exc:  # never crash the scheduler or the request: record and move on
        run.outcome = "partial" if run.buckets else "failed"
        run.errors = [*run.errors, f"unexpected error: {type(exc).__name__}"]
        log.exception("usage import failed")
    run.models = sorted(models)
    run.unknown_models = sorted(resolver.unknown)
    if run.outcome == "ok":
        log.info(
            "usage import (%s): %d window(s), %d bucket(s), %d row(s)",
            trigger,
            len(windows),
            run.buckets,
            run.rows,
        )
    return _finish(engine, run)


def _finish(engine: Engine, run: UsageImportRun) -> dict[str, Any]:
    run.finished_at = utcnow()
    with session_scope(engine) as session:
        session.add(run)
        session.flush()
        return run_out(run)


def run_out(run: UsageImportRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "org": run.org,
        "trigger": run.trigger,
        "outcome": run.outcome,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "buckets": run.buckets,
        "rows": run.rows,
        "windows": run.windows,
        "models": run.models,
        "unknown_models": run.unknown_models,
        "errors": run.errors,
    }


def last_runs(session: Session, *, org: str, limit: int) -> list[dict[str, Any]]:
    query = (
        select(UsageImportRun)
        .where(UsageImportRun.org == org)  # type: ignore[arg-type]
        .order_by(UsageImportRun.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    )
    return [run_out(run) for run in session.execute(query).scalars()]
