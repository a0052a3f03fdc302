"""The reconciliation summary for Slack: one ``billing.summary`` event per period and threshold.

A subscription follows ``billing`` with a period (daily, weekly on ISO weeks, monthly); once the
period has ended and the costs import has run, the summary of that period is published as an
event whose dedupe key names the period, so each subscriber hears it once per period however
many imports and replicas run. The deliveries are written in the same transaction as the event,
and the alert dispatcher sends them (retries included) like any other alert.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from pricing.money import display_usd
from service.alerts.events import publish_event
from service.alerts.messages import SlackMessage, escape
from service.alerts.models import FOLLOW_BILLING, Delivery, Subscription, new_delivery_ids
from service.billing.reconcile import DEFAULT_THRESHOLD_PCT, reconcile
from service.types import utcnow

log = logging.getLogger(__name__)

KIND = "billing.summary"
PERIODS = ("daily", "weekly", "monthly")
MAX_ROWS = 8


def last_complete(period: str, today: date) -> tuple[date, date]:
    """First and last day (inclusive) of the latest period that ended before ``today``."""
    if period == "daily":
        day = today - timedelta(days=1)
        return day, day
    if period == "weekly":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    first = today.replace(day=1)
    last = first - timedelta(days=1)
    return last.replace(day=1), last


def summary_payload(
    session: Session, *, period: str, start: date, end: date, threshold_pct: Decimal
) -> dict[str, Any]:
    report = reconcile(
        session, date_from=start, date_to=end, group_by=["model"], threshold_pct=threshold_pct
    )
    flagged = [r for r in report.rows if r.flagged]
    return {
        "period": period,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "threshold_pct": str(threshold_pct),
        "billed_usd": report.totals.billed_usd,
        "computed_usd": report.totals.computed_usd,
        "difference_usd": report.totals.difference_usd,
        "difference_pct": report.totals.difference_pct,
        "flagged": [
            {
                "model": r.group["model"],
                "billed_usd": r.billed_usd,
                "computed_usd": r.computed_usd,
                "difference_usd": r.difference_usd,
                "difference_pct": r.difference_pct,
                "causes": list(r.causes),
            }
            for r in flagged
        ],
        "unmapped": [u.line_item for u in report.unmapped],
    }


def publish_due(session: Session, *, today: date) -> int:
    """Publish each period's summary that is due and not yet sent; returns alerts queued."""
    subs = session.exec(
        select(Subscription)
        .where(
            Subscription.follows_type == FOLLOW_BILLING,
            col(Subscription.deleted_at).is_(None),
            col(Subscription.disabled_at).is_(None),
        )
        .order_by(col(Subscription.id))
    ).all()
    by_schedule: dict[tuple[str, Decimal], list[Subscription]] = {}
    for sub in subs:
        pct = DEFAULT_THRESHOLD_PCT if sub.threshold_pct is None else Decimal(sub.threshold_pct)
        by_schedule.setdefault((sub.follows_period or "monthly", pct), []).append(sub)
    queued = 0
    for (period, pct), members in sorted(by_schedule.items()):
        start, end = last_complete(period, today)
        subject = f"{period}:{start.isoformat()}"
        payload = summary_payload(session, period=period, start=start, end=end, threshold_pct=pct)
        event = publish_event(
            session, kind=KIND, subject=subject, dedupe_key=f"{KIND}:{subject}:{pct}",
            payload=payload,
        )  # fmt: skip
        if event is None or event.id is None:
            continue  # this period's summary was already sent
        now = utcnow()
        seen: set[tuple[str, str]] = set()
        for sub in members:
            destination = (sub.destination_type, sub.destination_label)
            if destination in seen:
                continue
            seen.add(destination)
            delivery_id, webhook_id = new_delivery_ids()
            session.add(
                Delivery(
                    id=delivery_id, webhook_id=webhook_id, event_id=event.id,
                    subscription_id=sub.id, event_kind=KIND, subject=subject,
                    destination_type=sub.destination_type, destination=sub.destination_label,
                    next_attempt_at=now, retrying_since=now, created_at=now,
                )
            )  # fmt: skip
            queued += 1
        session.flush()
        log.info("billing summary %s: %s alert(s) queued", subject, len(seen))
    return queued


def summary_message(p: dict[str, Any]) -> SlackMessage:
    """Billed beside computed for the period, then the rows beyond the threshold and why."""
    period = f"{p.get('from')} to {p.get('to')}" if p.get("from") != p.get("to") else p.get("from")
    billed = display_usd(Decimal(str(p.get("billed_usd") or "0")))
    computed = p.get("computed_usd")
    shown = display_usd(Decimal(str(computed))) if computed is not None else "unknown"
    diff = p.get("difference_pct")
    head = f"OpenAI billed {billed} for {period}; ratecard computes {shown}"
    if diff is not None:
        head += f" ({diff}% difference)"
    lines = [f"*{escape(head)}*"]
    flagged = list(p.get("flagged") or [])
    for row in flagged[:MAX_ROWS]:
        causes = ", ".join(str(c).replace("_", " ") for c in row.get("causes") or []) or "unknown"
        lines.append(
            f"• `{escape(str(row.get('model')))}`: billed {row.get('billed_usd')}, computed "
            f"{row.get('computed_usd') or 'unknown'} ({row.get('difference_pct') or '?'}%): "
            f"{escape(causes)}"
        )
    if len(flagged) > MAX_ROWS:
        lines.append(f"…and {len(flagged) - MAX_ROWS} more; see /v1/billing/reconciliation")
    if not flagged:
        lines.append(f"Every model within {p.get('threshold_pct')}%.")
    if p.get("unmapped"):
        lines.append(f"Unmapped line items: {escape(', '.join(p['unmapped'][:5]))}")
    text = "\n".join(lines)
    return SlackMessage(
        text=head, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
    )
