"""The countdown: alerts before a fine-tuned model stops answering, written once each.

Three kinds, published through the alerts outbox (``publish_event``), each with a dedupe key
that names the model and threshold, so repeated checks (and several replicas) record it once:

- ``fine_tune.countdown``: a fine-tuned model in use (traffic in the last days) whose base shuts
  down within 30, 7 or 1 days. Only the nearest threshold reached fires: a first check 5 days
  before says "7 days", not "30 days" too.
- ``fine_tuning.closing``: new fine-tuning jobs stop (2027-01-06) within 30, 7 or 1 days, for an
  organisation that has fine-tuned models.
- ``fine_tune.after_shutdown``: requests still reach a fine-tuned model after its shutdown;
  they are failing.

A subscription following ``fine_tuning`` hears all three.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service.alerts.events import publish_event
from service.db import session_scope
from service.periodic import PeriodicThread
from service.planning.inventory import FineTunedModel, build_inventory
from service.planning.traffic import requests_since, window
from service.prices.service import load_reference
from service.settings import Settings
from service.types import utcnow
from service.usage import store
from service.usage.names import default_org

log = logging.getLogger(__name__)

FINE_TUNE_COUNTDOWN = "fine_tune.countdown"
FINE_TUNING_CLOSING = "fine_tuning.closing"
FINE_TUNE_AFTER_SHUTDOWN = "fine_tune.after_shutdown"
KINDS = (FINE_TUNE_COUNTDOWN, FINE_TUNING_CLOSING, FINE_TUNE_AFTER_SHUTDOWN)
THRESHOLDS_DAYS = (30, 7, 1)
IN_USE_DAYS = 7
INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class Pending:
    kind: str
    subject: str
    dedupe_key: str
    payload: dict[str, object]


def threshold_reached(days_left: int) -> int | None:
    """The nearest threshold ``days_left`` is within (1 before 7 before 30), if any."""
    reached = [t for t in THRESHOLDS_DAYS if days_left <= t]
    return min(reached) if reached else None


def due_alerts(session: Session, *, org: str, now: datetime, settings: Settings) -> list[Pending]:
    """What the countdown would announce now for ``org`` (before deduplication)."""
    inventory = build_inventory(
        session, org=org, now=now, days=IN_USE_DAYS, settings=settings, ask_openai=False
    )
    out: list[Pending] = []
    for m in inventory.models:
        out.extend(_model_alerts(session, org=org, m=m, now=now))
    closes = load_reference(session).lifecycle.fine_tuning_closes(now.date())
    if closes is not None and inventory.models:
        days = (closes - now.date()).days
        reached = threshold_reached(days) if days > 0 else None
        if reached is not None:
            out.append(
                Pending(
                    kind=FINE_TUNING_CLOSING,
                    subject=org,
                    dedupe_key=f"{FINE_TUNING_CLOSING}:{org}:{closes.isoformat()}:{reached}",
                    payload={
                        "org": org,
                        "closes_on": closes.isoformat(),
                        "last_day": (closes - timedelta(days=1)).isoformat(),
                        "days_left": days,
                        "threshold_days": reached,
                        "fine_tuned_models": len(inventory.models),
                    },
                )
            )
    return out


def _model_alerts(session: Session, *, org: str, m: FineTunedModel, now: datetime) -> list[Pending]:
    s = m.status
    if s.shutdown_date is None or m.traffic is None or m.traffic.requests == 0:
        return []
    base = {
        "org": org,
        "model": m.name,
        "base": m.base,
        "shutdown_date": s.shutdown_date.isoformat(),
        "replacement": s.replacement,
        "requests_per_day": str(m.traffic.as_traffic().requests_per_day.quantize(1)),
    }
    if s.state == "shut_down":
        since = datetime.combine(s.shutdown_date, time.min, tzinfo=now.tzinfo)
        failing = requests_since(session, org=org, model=m.traffic.model, since=since)
        if not failing:
            return []
        return [
            Pending(
                kind=FINE_TUNE_AFTER_SHUTDOWN,
                subject=m.name,
                dedupe_key=f"{FINE_TUNE_AFTER_SHUTDOWN}:{org}:{m.name}:{s.shutdown_date}",
                payload={**base, "requests_since_shutdown": failing},
            )
        ]
    if s.days_left is None or s.days_left <= 0:
        return []
    reached = threshold_reached(s.days_left)
    if reached is None:
        return []
    return [
        Pending(
            kind=FINE_TUNE_COUNTDOWN,
            subject=m.name,
            dedupe_key=f"{FINE_TUNE_COUNTDOWN}:{org}:{m.name}:{s.shutdown_date}:{reached}",
            payload={**base, "days_left": s.days_left, "threshold_days": reached},
        )
    ]


def active_orgs(session: Session, *, now: datetime, settings: Settings) -> list[str]:
    start, _ = window(now, IN_USE_DAYS)
    c = store.BUCKETS.c
    orgs = set(session.execute(select(c.org).distinct().where(c.bucket >= start)).scalars())
    orgs.add(default_org(settings))
    return sorted(orgs)


def check_countdown(engine: Engine, *, now: datetime, settings: Settings) -> int:
    """Publish every due alert not published before; returns how many were new.

    Each alert commits on its own: a replica that recorded it first wins the unique dedupe key,
    and this one's failed insert loses nothing else.
    """
    with session_scope(engine) as session:
        pending = [
            p
            for org in active_orgs(session, now=now, settings=settings)
            for p in due_alerts(session, org=org, now=now, settings=settings)
        ]
    new = 0
    for p in pending:
        try:
            with session_scope(engine) as session:
                event = publish_event(
                    session,
                    kind=p.kind,
                    subject=p.subject,
                    dedupe_key=p.dedupe_key,
                    payload={**p.payload, "at": now.isoformat()},
                )
                new += event is not None
        except IntegrityError:
            log.info("countdown alert %s was recorded by another replica", p.dedupe_key)
    if new:
        log.info("countdown: %d new alert(s)", new)
    return new


class CountdownCheck(PeriodicThread):
    name = "planning-countdown"

    def __init__(
        self, engine: Engine, settings: Settings, interval_seconds: float = INTERVAL_SECONDS
    ) -> None:
        # First check soon after start, then every interval.
        super().__init__(
            interval_seconds=interval_seconds, first_delay_seconds=min(60.0, interval_seconds)
        )
        self._engine = engine
        self._settings = settings

    def check(self) -> int:
        return check_countdown(self._engine, now=utcnow(), settings=self._settings)

    def run_once(self) -> object:
        return self.check()


def countdown_factory(app: FastAPI) -> CountdownCheck | None:
    """Background factory for create_app."""
    return CountdownCheck(app.state.engine, app.state.settings)
