from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response

from service.alerts import service
from service.alerts.schemas import (
    AlertOut,
    AlertPage,
    DeliveryStatus,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
)
from service.alerts.urlpolicy import UrlPolicy
from service.auth.service import Principal
from service.deps import AdminKey, LaunchKey, ReadKey, SessionDep, SettingsDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["alerts"])
Cursor = Annotated[
    str | None, Query(max_length=40, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post(
    "/v1/subscriptions",
    response_model=SubscriptionCreated,
    status_code=201,
    summary="Follow a job, a team's jobs, all jobs or a TPM pool, in Slack or by webhook",
    responses={
        409: {"description": "the destination already follows that (code duplicate_subscription)"},
        422: {"description": "invalid body, or a refused webhook URL (code forbidden_webhook_url)"},
    },
)
def create_subscription(
    body: SubscriptionIn, session: SessionDep, settings: SettingsDep, principal: LaunchKey
) -> SubscriptionCreated:
    policy = UrlPolicy.for_service(
        host=settings.host,
        port=settings.port,
        service_url=settings.service_url,
        allowed_networks=settings.webhook_allowed_networks,
    )
    sub, secret = service.create_subscription(
        session, request=body, created_by=principal.name, policy=policy
    )
    # The creator just sent this URL: it is shown back in full whatever the key.
    out = service.subscription_out(sub, full_urls=True)
    return SubscriptionCreated(**out.model_dump(), webhook_secret=secret)


@router.get(
    "/v1/subscriptions", response_model=SubscriptionPage, summary="Subscriptions, newest first"
)
def list_subscriptions(
    session: SessionDep,
    principal: ReadKey,
    created_by: Annotated[str | None, Query(max_length=100)] = None,
    destination: Annotated[
        str | None, Query(max_length=2000, description="a Slack channel/user id or a webhook URL")
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SubscriptionPage:
    rows, next_cursor = service.list_subscriptions(
        session, created_by=created_by, destination=destination, limit=limit, cursor=cursor
    )
    return SubscriptionPage(
        items=[service.subscription_out(r, full_urls=_is_admin(principal)) for r in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/v1/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    summary="One subscription",
)
def get_subscription(
    subscription_id: str, session: SessionDep, principal: ReadKey
) -> SubscriptionOut:
    return service.subscription_out(
        service.get_subscription(session, subscription_id=subscription_id),
        full_urls=_is_admin(principal),
    )


@router.delete(
    "/v1/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Stop following; alerts not yet sent to it are dropped",
)
def delete_subscription(subscription_id: str, session: SessionDep, _: LaunchKey) -> Response:
    service.delete_subscription(session, subscription_id=subscription_id)
    return Response(status_code=204)


@router.get(
    "/v1/alerts", response_model=AlertPage, summary="Delivery log: status, attempts, last error"
)
def list_alerts(
    session: SessionDep,
    principal: ReadKey,
    status: DeliveryStatus | None = None,
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    event_kind: Annotated[
        str | None, Query(max_length=50, examples=["job.finished", "tpm.threshold"])
    ] = None,
    subject: Annotated[
        str | None, Query(max_length=200, description="job id or TPM pool `org/family`")
    ] = None,
    destination_type: Annotated[str | None, Query(pattern="^(slack|webhook)$")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AlertPage:
    rows, next_cursor = service.list_alerts(
        session,
        status=status,
        subscription_id=subscription_id,
        event_kind=event_kind,
        subject=subject,
        destination_type=destination_type,
        limit=limit,
        cursor=cursor,
    )
    full = _is_admin(principal)
    return AlertPage(
        items=[service.alert_out(r, full_urls=full) for r in rows], next_cursor=next_cursor
    )


@router.get("/v1/alerts/{alert_id}", response_model=AlertOut, summary="One alert delivery")
def get_alert(alert_id: str, session: SessionDep, principal: ReadKey) -> AlertOut:
    return service.alert_out(
        service.get_alert(session, alert_id=alert_id), full_urls=_is_admin(principal)
    )


@router.post(
    "/v1/alerts/{alert_id}/retry",
    response_model=AlertOut,
    summary="Re-queue a failed alert (same webhook-id); admin only",
    responses={409: {"description": "not failed (code not_retryable) or its subscription is gone"}},
)
def retry_alert(alert_id: str, session: SessionDep, principal: AdminKey) -> AlertOut:
    row = service.retry_alert(session, alert_id=alert_id)
    log.info("alert %s re-queued by %s", alert_id, principal.name)
    return service.alert_out(row, full_urls=True)


def _is_admin(principal: Principal) -> bool:
    # Webhook URLs often carry tokens: only admins see them whole.
    return "admin" in principal.scopes
