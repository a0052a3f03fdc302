"""The alert dispatcher: claims due delivery rows, sends them, records the outcome.

Exactly once per (event, destination) rests on three things:
- fan-out writes the rows in the producer's transaction (nothing before commit, all after);
- a claim is one UPDATE that flips due rows to ``sending`` under a fresh claim token; on
  PostgreSQL the candidate rows are picked ``FOR UPDATE SKIP LOCKED``, so two replicas never
  claim the same row (SQLite has one writer, and the conditional UPDATE is atomic there);
- a claim carries a lease: a replica that dies after claiming leaves the row ``sending`` until
  the lease expires, then any dispatcher claims it again. Outcomes are written only by the
  holder of the claim token, so a late finisher cannot overwrite a newer claim.

The lease must outlast a send (timeouts are 10 s; a round sends its batch in parallel), otherwise
a slow send could be repeated by another replica.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from service.alerts.messages import render_event
from service.alerts.models import (
    DELIVERED,
    DISABLED,
    FAILED,
    PENDING,
    SENDING,
    SLACK,
    Delivery,
    Event,
    Subscription,
)
from service.alerts.senders import Outcome, send_slack, send_webhook, webhook_body
from service.alerts.transport import VettedTransport
from service.alerts.urlpolicy import Resolver, UrlPolicy, system_resolver
from service.db import session_scope
from service.settings import Settings
from service.types import utcnow

log = logging.getLogger(__name__)

# Fault injection for the crash-recovery test: the process SIGKILLs itself right after a claim
# commits, before anything is sent. Never set it in production.
CRASH_AFTER_CLAIM_ENV = "RATECARD_TEST_DISPATCHER_CRASH_AFTER_CLAIM"
MAX_WORKERS = 8

_deliveries = Delivery.__table__  # type: ignore[attr-defined]
_subscriptions = Subscription.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    """A claimed row with everything needed to send it, read in the claim transaction."""

    id: str
    webhook_id: str
    claim_token: str
    attempts: int
    retrying_since: datetime
    event_kind: str
    subject: str
    event_created_at: datetime
    payload: dict[str, Any]
    subscription_id: str
    destination_type: str
    slack_channel: str | None
    webhook_url: str | None
    webhook_secret: str | None
    inactive_reason: str | None  # the subscription was deleted or disabled after fan-out


class AlertDispatcher:
    """Delivers alert rows; run it with start()/stop() in the app, or call run_once() directly."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        resolve: Resolver = system_resolver,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.resolve = resolve
        self.name = name or f"dispatcher-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.policy = UrlPolicy.for_service(
            host=settings.host,
            port=settings.port,
            service_url=settings.service_url,
            allowed_networks=settings.webhook_allowed_networks,
            resolve=resolve,
        )
        self._http = httpx.Client(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            trust_env=False,
            transport=VettedTransport(self.policy, resolve=resolve),
        )
        self._pool = ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, settings.alert_batch_size),
            thread_name_prefix=f"{self.name}-send",
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._is_postgres = engine.dialect.name == "postgresql"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        log.info(
            "alert dispatcher %s started (every %ss)",
            self.name,
            self.settings.dispatch_interval_seconds,
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.webhook_timeout_seconds + 5)
        self.close()
        log.info("alert dispatcher %s stopped", self.name)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception(
                    "alert dispatcher %s: round failed; trying again next interval", self.name
                )
                handled = 0
            # A full batch means more may be due: go again at once instead of sleeping.
            if handled < self.settings.alert_batch_size:
                self._stop.wait(self.settings.dispatch_interval_seconds)

    # -- one round -------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim due alerts, send them in parallel, record each outcome; returns the count."""
        claimed = self.claim()
        if not claimed:
            return 0
        if os.environ.get(CRASH_AFTER_CLAIM_ENV):
            log.warning(
                "%s is set: killing this process after claiming %s alert(s)",
                CRASH_AFTER_CLAIM_ENV,
                len(claimed),
            )
            os.kill(os.getpid(), signal.SIGKILL)
        list(self._pool.map(self._process, claimed))
        return len(claimed)

    def claim(self) -> list[Claimed]:
        now = self.clock()
        token = uuid.uuid4().hex
        d = _deliveries.c
        due = or_(
            and_(d.status == PENDING, d.next_attempt_at <= now),
            and_(d.status == SENDING, d.lease_expires_at <= now),
        )
        candidates = (
            select(d.id)
            .where(due)
            .order_by(d.next_attempt_at, d.id)
            .limit(self.settings.alert_batch_size)
        )
        if self._is_postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        claim = (
            update(_deliveries)
            .where(d.id.in_(candidates), due)
            .values(
                status=SENDING,
                claim_token=token,
                attempts=d.attempts + 1,
                last_attempt_at=now,
                lease_expires_at=now + timedelta(seconds=self.settings.alert_lease_seconds),
            )
            .returning(d.id)
        )
        with session_scope(self.engine) as session:
            ids = list(session.execute(claim).scalars().all())
            if not ids:
                return []
            rows = session.execute(
                select(Delivery, Event, Subscription)
                .join(Event, col(Event.id) == col(Delivery.event_id))
                .join(Subscription, col(Subscription.id) == col(Delivery.subscription_id))
                .where(col(Delivery.id).in_(ids))
                .order_by(col(Delivery.id))
            ).all()
            claimed = [self._snapshot(delivery, event, sub, token) for delivery, event, sub in rows]
        log.debug("%s claimed %s alert(s)", self.name, len(claimed))
        return claimed

    @staticmethod
    def _snapshot(delivery: Delivery, event: Event, sub: Subscription, token: str) -> Claimed:
        inactive = None
        if sub.deleted_at is not None:
            inactive = "subscription deleted"
        elif sub.disabled_at is not None:
            inactive = f"subscription disabled: {sub.disabled_reason}"
        return Claimed(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            claim_token=token,
            attempts=delivery.attempts,
            retrying_since=delivery.retrying_since,
            event_kind=event.kind,
            subject=event.subject,
            event_created_at=event.created_at,
            payload=dict(event.payload),
            subscription_id=sub.id,
            destination_type=sub.destination_type,
            slack_channel=sub.slack_channel,
            webhook_url=sub.webhook_url,
            webhook_secret=sub.webhook_secret,
            inactive_reason=inactive,
        )

    def _process(self, alert: Claimed) -> None:
        try:
            outcome = self.send(alert)
        except (
            Exception
        ) as exc:  # a bug in rendering or sending must not wedge the row in "sending"
            log.exception("alert %s: unexpected error while sending", alert.id)
            outcome = Outcome("retry", f"internal error: {type(exc).__name__}")
        try:
            self.finish(alert, outcome)
        except Exception:
            log.exception(
                "alert %s: could not record outcome %s; the lease will expire and it is retried",
                alert.id,
                outcome.result,
            )

    def send(self, alert: Claimed) -> Outcome:
        if alert.inactive_reason:
            return Outcome("disabled", alert.inactive_reason)
        if alert.destination_type == SLACK:
            message = render_event(alert.event_kind, alert.subject, alert.payload)
            token = (
                self.settings.slack_bot_token.get_secret_value()
                if self.settings.slack_bot_token
                else None
            )
            return send_slack(
                channel=alert.slack_channel or "",
                message=message,
                base_url=self.settings.slack_api_url,
                token=token,
                timeout_seconds=self.settings.webhook_timeout_seconds,
            )
        if not alert.webhook_url or not alert.webhook_secret:
            return Outcome("failed", "webhook subscription has no URL or secret")
        body = webhook_body(
            kind=alert.event_kind, created_at=alert.event_created_at, payload=alert.payload
        )
        return send_webhook(
            client=self._http,
            url=alert.webhook_url,
            secret=alert.webhook_secret,
            webhook_id=alert.webhook_id,
            body=body,
        )

    def finish(self, alert: Claimed, outcome: Outcome) -> None:
        now = self.clock()
        values: dict[str, Any] = {"claim_token": None, "lease_expires_at": None}
        if outcome.result == "delivered":
            values.update(status=DELIVERED, delivered_at=now, last_error=None)
        elif outcome.result == "retry":
            deadline = alert.retrying_since + timedelta(
                seconds=self.settings.alert_retry_window_seconds
            )
            if now >= deadline:
                values.update(
                    status=FAILED,
                    last_error=_cut(
                        f"gave up after {alert.attempts} attempts over "
                        f"{_hours(self.settings.alert_retry_window_seconds)}: {outcome.detail}"
                    ),
                )
            else:
                delay = outcome.retry_after_seconds
                if delay is None:
                    delay = self.backoff_seconds(alert.attempts)
                delay = min(delay, self.settings.alert_retry_max_delay_seconds)
                values.update(
                    status=PENDING,
                    next_attempt_at=min(now + timedelta(seconds=delay), deadline),
                    last_error=_cut(outcome.detail),
                )
        elif outcome.result == "failed":
            values.update(status=FAILED, last_error=_cut(outcome.detail))
        else:
            values.update(status=DISABLED, last_error=_cut(outcome.detail))
        d = _deliveries.c
        with session_scope(self.engine) as session:
            result = session.execute(
                update(_deliveries)
                .where(d.id == alert.id, d.claim_token == alert.claim_token, d.status == SENDING)
                .values(**values)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                # Our lease ran out and another dispatcher holds the row now; its outcome wins.
                log.warning("alert %s: claim lost before recording %s", alert.id, outcome.result)
                return
            if outcome.result == "disabled" and not alert.inactive_reason:
                self._disable_subscription(session, alert, now, outcome.detail or "disabled")
        log.info(
            "alert %s (%s %s to %s) %s after %s attempt(s)%s",
            alert.id,
            alert.event_kind,
            alert.subject,
            self._where(alert),
            values["status"],
            alert.attempts,
            f": {outcome.detail}" if values["status"] != DELIVERED else "",
        )

    @staticmethod
    def _disable_subscription(session: Session, alert: Claimed, now: datetime, reason: str) -> None:
        s, d = _subscriptions.c, _deliveries.c
        session.execute(
            update(_subscriptions)
            .where(s.id == alert.subscription_id, s.disabled_at.is_(None))
            .values(disabled_at=now, disabled_reason=reason)
        )
        session.execute(
            update(_deliveries)
            .where(d.subscription_id == alert.subscription_id, d.status == PENDING)
            .values(status=DISABLED, last_error="subscription disabled: " + reason)
        )

    def backoff_seconds(self, attempts: int) -> float:
        """Exponential from the base, capped, with "equal jitter" so bursts spread out."""
        ceiling = min(
            self.settings.alert_retry_base_seconds * 2 ** min(max(attempts - 1, 0), 40),
            self.settings.alert_retry_max_delay_seconds,
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @staticmethod
    def _where(alert: Claimed) -> str:
        if alert.destination_type == SLACK:
            return f"slack {alert.slack_channel}"
        # Only scheme and host: paths and queries of webhook URLs often embed tokens.
        parts = urlsplit(alert.webhook_url or "")
        return f"webhook {parts.scheme}://{parts.hostname}"


def _cut(text: str | None, limit: int = 1000) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}h"


def dispatcher_factory(app: FastAPI) -> AlertDispatcher | None:
    """Background factory for create_app: a dispatcher runs in every `ratecard serve` replica."""
    settings: Settings = app.state.settings
    if not settings.run_dispatcher:
        return None
    return AlertDispatcher(app.state.engine, settings)


def main(argv: list[str] | None = None) -> int:
    """`python -m service.alerts.dispatcher`: a dispatcher without the API (RATECARD_* settings).

    For deployments that keep delivery out of the API replicas (set RATECARD_RUN_DISPATCHER=false
    there). The schema must exist: `ratecard serve` migrates it on start.
    """
    import argparse

    from service.db import create_db_engine
    from service.settings import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m service.alerts.dispatcher", description=main.__doc__
    )
    parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
    args = parser.parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    engine = create_db_engine(settings.database_url)
    dispatcher = AlertDispatcher(engine, settings)
    if args.once:
        with dispatcher:
            while dispatcher.run_once():
                pass
        engine.dispose()
        return 0
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    dispatcher.start()
    stopped.wait()
    dispatcher.stop()
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
