"""Turn one event into one delivery row per matching subscription, in the producer's transaction.

Matching rules
- ``job.finished``: subscriptions following all jobs, the job's team, or the job itself (by the
  ratecard id or the OpenAI ``ftjob-`` id, whichever the subscriber gave).
- ``fine_tune.countdown``, ``fine_tune.after_shutdown`` and ``fine_tuning.closing`` (the end of
  fine-tuning, service.planning.alerts): subscriptions following ``fine_tuning``, all models or
  the event's model.
- ``tpm.threshold``: subscriptions following the pool's family. With a ``threshold_pct`` of their
  own they hear "above" only once utilisation reaches it, and "below" only after they heard
  the matching "above" for that pool.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from service.alerts.models import (
    FOLLOW_ALL_JOBS,
    FOLLOW_FINE_TUNING,
    FOLLOW_JOB,
    FOLLOW_TEAM,
    FOLLOW_TPM,
    Delivery,
    Event,
    Subscription,
    new_delivery_ids,
)
from service.types import utcnow

log = logging.getLogger(__name__)

# Written by service.planning.alerts; named here so the alerts package imports no feature.
FINE_TUNING_KINDS = frozenset(
    {"fine_tune.countdown", "fine_tune.after_shutdown", "fine_tuning.closing"}
)


def fan_out(session: Session, event: Event) -> list[Delivery]:
    subscriptions = matching_subscriptions(
        session, kind=event.kind, subject=event.subject, payload=event.payload
    )
    now = utcnow()
    deliveries = []
    seen: set[tuple[str, str]] = set()
    for sub in subscriptions:
        # One alert per destination: a channel following both the team and the job hears it once.
        destination = (sub.destination_type, sub.destination_label)
        if destination in seen:
            continue
        seen.add(destination)
        delivery_id, webhook_id = new_delivery_ids()
        assert event.id is not None  # flushed by publish_event
        deliveries.append(
            Delivery(
                id=delivery_id,
                webhook_id=webhook_id,
                event_id=event.id,
                subscription_id=sub.id,
                event_kind=event.kind,
                subject=event.subject,
                destination_type=sub.destination_type,
                destination=sub.destination_label,
                next_attempt_at=now,
                retrying_since=now,
                created_at=now,
            )
        )
    session.add_all(deliveries)
    if deliveries:
        session.flush()
        log.info("event %s %s: %s alert(s) queued", event.kind, event.subject, len(deliveries))
    return deliveries


def matching_subscriptions(
    session: Session, *, kind: str, subject: str, payload: dict[str, Any]
) -> list[Subscription]:
    active = and_(col(Subscription.deleted_at).is_(None), col(Subscription.disabled_at).is_(None))
    if kind == "job.finished":
        job_ids = {str(v) for v in (subject, payload.get("id"), payload.get("openai_job_id")) if v}
        follows = [
            col(Subscription.follows_type) == FOLLOW_ALL_JOBS,
            and_(
                col(Subscription.follows_type) == FOLLOW_JOB,
                col(Subscription.follows_job_id).in_(job_ids),
            ),
        ]
        team = payload.get("team")
        if team:
            follows.append(
                and_(
                    col(Subscription.follows_type) == FOLLOW_TEAM,
                    col(Subscription.follows_team) == str(team),
                )
            )
        query = select(Subscription).where(active, or_(*follows)).order_by(col(Subscription.id))
        return list(session.exec(query).all())
    if kind in FINE_TUNING_KINDS:
        model = payload.get("model")
        wanted: ColumnElement[bool] = col(Subscription.follows_family).is_(None)
        if model:
            wanted = or_(wanted, col(Subscription.follows_family) == str(model))
        query = (
            select(Subscription)
            .where(active, Subscription.follows_type == FOLLOW_FINE_TUNING, wanted)
            .order_by(col(Subscription.id))
        )
        return list(session.exec(query).all())
    if kind == "tpm.threshold":
        family = payload.get("family")
        if not family:
            return []
        query = (
            select(Subscription)
            .where(
                active,
                Subscription.follows_type == FOLLOW_TPM,
                Subscription.follows_family == str(family),
            )
            .order_by(col(Subscription.id))
        )
        return [
            s
            for s in session.exec(query).all()
            if _wants_tpm(session, s, subject=subject, payload=payload)
        ]
    return []


def _wants_tpm(
    session: Session, sub: Subscription, *, subject: str, payload: dict[str, Any]
) -> bool:
    if sub.threshold_pct is None:
        return True
    if payload.get("state") == "above":
        try:
            return Decimal(str(payload.get("utilisation_pct"))) >= sub.threshold_pct
        except InvalidOperation:
            return False
    last = session.exec(
        select(Event.payload)
        .join(Delivery, col(Delivery.event_id) == col(Event.id))
        .where(Delivery.subscription_id == sub.id, Delivery.subject == subject)
        .order_by(col(Event.id).desc())
        .limit(1)
    ).first()
    return last is not None and last.get("state") == "above"
