"""Subscriptions and the delivery log: keyword-only functions taking the session explicitly."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, update
from sqlmodel import Session, col, select

from service.alerts.models import (
    DISABLED,
    FAILED,
    FOLLOW_ALL_JOBS,
    FOLLOW_BILLING,
    FOLLOW_FINE_TUNING,
    FOLLOW_JOB,
    FOLLOW_TEAM,
    FOLLOW_TPM,
    PENDING,
    SLACK,
    WEBHOOK,
    Delivery,
    Subscription,
)
from service.alerts.schemas import (
    AlertOut,
    FollowAllJobs,
    FollowBilling,
    FollowFineTuning,
    FollowJob,
    FollowTeam,
    FollowTpm,
    SlackDestination,
    SubscriptionIn,
    SubscriptionOut,
    WebhookDestinationOut,
)
from service.alerts.urlpolicy import (
    ForbiddenUrl,
    Resolver,
    UnresolvableHost,
    UrlPolicy,
    system_resolver,
)
from service.errors import Conflict, InvalidInput, NotFound
from service.types import utcnow

log = logging.getLogger(__name__)
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_webhook_secret(secret: str) -> str:
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidInput(
            "webhook secrets look like `whsec_<base64>`; omit `secret` to have one generated",
            field="destination.secret",
        )
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "the webhook secret after `whsec_` is not valid base64", field="destination.secret"
        ) from None
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise InvalidInput(
            f"webhook secrets must decode to {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes, "
            f"not {len(raw)}",
            field="destination.secret",
        )
    return secret


def check_webhook_url(url: str, *, policy: UrlPolicy, resolve: Resolver = system_resolver) -> str:
    try:
        return policy.check(url, resolve=resolve).url
    except ForbiddenUrl as exc:
        raise InvalidInput(f"webhook URL refused: {exc}", code="forbidden_webhook_url") from None
    except UnresolvableHost as exc:
        raise InvalidInput(
            f"webhook URL refused: {exc}", code="unresolvable_webhook_host"
        ) from None


def _tpm_family(session: Session, name: str) -> str:
    from service.prices.service import catalogue_for

    catalogue = catalogue_for(session)
    key = name.strip().lower()
    if key in catalogue.families:
        return key
    # Any model of the pool names it too (UnknownModelError becomes a 422 with suggestions).
    return catalogue.resolve(key, as_of=date.today()).family


def create_subscription(
    session: Session,
    *,
    request: SubscriptionIn,
    created_by: str,
    policy: UrlPolicy,
    resolve: Resolver = system_resolver,
) -> tuple[Subscription, str | None]:
    """Returns the subscription and, for webhooks, its signing secret (shown only this once)."""
    dest = request.destination
    sub = Subscription(
        created_by=request.created_by or created_by,
        follows_type=request.follows.type,
        destination_type=SLACK if isinstance(dest, SlackDestination) else WEBHOOK,
    )
    secret: str | None = None
    if isinstance(dest, SlackDestination):
        sub.slack_channel = dest.channel
    else:
        sub.webhook_url = check_webhook_url(dest.url, policy=policy, resolve=resolve)
        secret = check_webhook_secret(dest.secret) if dest.secret else new_webhook_secret()
        sub.webhook_secret = secret
    follows = request.follows
    if isinstance(follows, FollowJob):
        sub.follows_job_id = follows.job_id
    elif isinstance(follows, FollowTeam):
        sub.follows_team = follows.team
    elif isinstance(follows, FollowTpm):
        sub.follows_family = _tpm_family(session, follows.family)
        sub.threshold_pct = follows.threshold_pct
    elif isinstance(follows, FollowFineTuning):
        # The model filter reuses the free-text column; a fine-tuned name is no family.
        sub.follows_family = follows.model
    elif isinstance(follows, FollowBilling):
        sub.follows_period = follows.period
        sub.threshold_pct = follows.threshold_pct

    duplicate = session.exec(
        select(Subscription).where(
            col(Subscription.deleted_at).is_(None),
            col(Subscription.disabled_at).is_(None),
            Subscription.destination_type == sub.destination_type,
            _same(Subscription.slack_channel, sub.slack_channel),
            _same(Subscription.webhook_url, sub.webhook_url),
            Subscription.follows_type == sub.follows_type,
            _same(Subscription.follows_job_id, sub.follows_job_id),
            _same(Subscription.follows_team, sub.follows_team),
            _same(Subscription.follows_family, sub.follows_family),
            _same(Subscription.follows_period, sub.follows_period),
            _same(Subscription.threshold_pct, sub.threshold_pct),
        )
    ).first()
    if duplicate is not None:
        raise Conflict(
            f"{sub.destination_label} already follows that (subscription {duplicate.id}); "
            "delete it first to change its secret",
            code="duplicate_subscription",
            subscription_id=duplicate.id,
        )
    session.add(sub)
    session.flush()
    log.info(
        "subscription %s: %s %s follows %s",
        sub.id,
        sub.destination_type,
        sub.slack_channel or "webhook",
        sub.follows_type,
    )
    return sub, secret


def _same(column: Any, value: Any) -> Any:
    return col(column).is_(None) if value is None else column == value


def get_subscription(session: Session, *, subscription_id: str) -> Subscription:
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.deleted_at is not None:
        raise NotFound(f"no subscription {subscription_id!r}")
    return sub


def list_subscriptions(
    session: Session,
    *,
    created_by: str | None = None,
    destination: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[Subscription], str | None]:
    query = select(Subscription).where(col(Subscription.deleted_at).is_(None))
    if created_by is not None:
        query = query.where(Subscription.created_by == created_by)
    if destination is not None:
        query = query.where(
            (Subscription.slack_channel == destination) | (Subscription.webhook_url == destination)
        )
    if cursor:
        query = query.where(Subscription.id < cursor)
    rows = list(session.exec(query.order_by(col(Subscription.id).desc()).limit(limit + 1)).all())
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def delete_subscription(session: Session, *, subscription_id: str) -> None:
    sub = get_subscription(session, subscription_id=subscription_id)
    sub.deleted_at = utcnow()
    session.add(sub)
    # Alerts not yet sent to it are dropped with it; ones on the wire right now may still land.
    session.execute(
        update(Delivery)
        .where(and_(col(Delivery.subscription_id) == sub.id, col(Delivery.status) == PENDING))
        .values(status=DISABLED, last_error="subscription deleted")
    )
    log.info("subscription %s deleted", sub.id)


def shown_url(url: str, *, full: bool) -> str:
    """A webhook URL as a caller may see it: in full for admins; for everyone else only scheme,
    host and port, because paths, queries and userinfo of webhook URLs often carry tokens."""
    if full:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{shown}{f':{port}' if port else ''}/…"


def subscription_out(sub: Subscription, *, full_urls: bool) -> SubscriptionOut:
    destination: SlackDestination | WebhookDestinationOut
    if sub.destination_type == SLACK:
        destination = SlackDestination(type="slack", channel=sub.slack_channel or "")
    else:
        destination = WebhookDestinationOut(
            type="webhook", url=shown_url(sub.webhook_url or "", full=full_urls)
        )
    follows: FollowJob | FollowTeam | FollowAllJobs | FollowTpm | FollowFineTuning | FollowBilling
    if sub.follows_type == FOLLOW_JOB:
        follows = FollowJob(type="job", job_id=sub.follows_job_id or "")
    elif sub.follows_type == FOLLOW_TEAM:
        follows = FollowTeam(type="team", team=sub.follows_team or "")
    elif sub.follows_type == FOLLOW_ALL_JOBS:
        follows = FollowAllJobs(type="all_jobs")
    elif sub.follows_type == FOLLOW_FINE_TUNING:
        follows = FollowFineTuning(type="fine_tuning", model=sub.follows_family)
    elif sub.follows_type == FOLLOW_BILLING:
        follows = FollowBilling(
            type="billing",
            period=sub.follows_period,  # written from the Literal
            threshold_pct=sub.threshold_pct,
        )
    else:
        assert sub.follows_type == FOLLOW_TPM
        follows = FollowTpm(
            type="tpm", family=sub.follows_family or "", threshold_pct=sub.threshold_pct
        )
    return SubscriptionOut(
        id=sub.id,
        destination=destination,
        follows=follows,
        created_by=sub.created_by,
        created_at=sub.created_at,
        status="disabled" if sub.disabled_at else "active",
        disabled_reason=sub.disabled_reason,
    )


def alert_out(row: Delivery, *, full_urls: bool) -> AlertOut:
    destination: SlackDestination | WebhookDestinationOut
    if row.destination_type == SLACK:
        destination = SlackDestination(type="slack", channel=row.destination)
    else:
        destination = WebhookDestinationOut(
            type="webhook", url=shown_url(row.destination, full=full_urls)
        )
    return AlertOut(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_kind=row.event_kind,
        subject=row.subject,
        subscription_id=row.subscription_id,
        destination=destination,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
        last_attempt_at=row.last_attempt_at,
        last_error=_without_reply(row.last_error),
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def get_alert(session: Session, *, alert_id: str) -> Delivery:
    row = session.get(Delivery, alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id!r}")
    return row


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    subscription_id: str | None = None,
    event_kind: str | None = None,
    subject: str | None = None,
    destination_type: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[Delivery], str | None]:
    query = select(Delivery)
    for column, value in (
        (Delivery.status, status),
        (Delivery.subscription_id, subscription_id),
        (Delivery.event_kind, event_kind),
        (Delivery.subject, subject),
        (Delivery.destination_type, destination_type),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor:
        query = query.where(Delivery.id < cursor)
    rows = list(session.exec(query.order_by(col(Delivery.id).desc()).limit(limit + 1)).all())
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def retry_alert(session: Session, *, alert_id: str) -> Delivery:
    """Re-queue a failed alert now, with a fresh retry window and the same webhook id."""
    row = get_alert(session, alert_id=alert_id)
    if row.status != FAILED:
        raise Conflict(
            f"alert {alert_id} is {row.status}; only failed alerts can be retried",
            code="not_retryable",
            alert_status=row.status,
        )
    sub = session.get(Subscription, row.subscription_id)
    if sub is None or sub.deleted_at is not None or sub.disabled_at is not None:
        reason = "deleted" if sub is None or sub.deleted_at else f"disabled ({sub.disabled_reason})"
        raise Conflict(f"the alert's subscription is {reason}", code="subscription_inactive")
    now = utcnow()
    # Conditional on the status read above, so two admins retrying at once queue it once.
    result = session.execute(
        update(Delivery)
        .where(and_(col(Delivery.id) == row.id, col(Delivery.status) == FAILED))
        .values(
            status=PENDING,
            next_attempt_at=now,
            retrying_since=now,
            claim_token=None,
            lease_expires_at=None,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"alert {alert_id} changed while retrying it; look again", code="not_retryable"
        )
    session.refresh(row)
    return row


_OLD_REPLY_SNIPPET = re.compile(r"^(receiver answered \d{3}): .*$", re.DOTALL)


def _without_reply(last_error: str | None) -> str | None:
    # Rows written before the reply body stopped being kept still hold its first 200 characters
    # after "receiver answered NNN: "; they are never shown.
    if last_error is None:
        return None
    return _OLD_REPLY_SNIPPET.sub(r"\1", last_error)
