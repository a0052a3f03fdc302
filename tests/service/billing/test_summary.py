"""The Slack summary: a subscription follows billing with a period; each period is sent once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import col, select

from service.alerts.messages import render_event
from service.alerts.models import Delivery, Event
from service.billing import summary
from service.billing.scheduler import CostsImporter
from service.db import session_scope
from service.usage.models import UsageBucket
from tests.service.billing.conftest import SQLITE_ONLY, BillingEnv, unix

pytestmark = SQLITE_ONLY
APRIL_2 = date(2025, 4, 2)


def _subscribe(env: BillingEnv, channel: str, period: str, **extra: object) -> dict:
    response = env.admin.post(
        "/v1/subscriptions",
        json={
            "destination": {"type": "slack", "channel": channel},
            "follows": {"type": "billing", "period": period, **extra},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def _seed_march(env: BillingEnv) -> None:
    day = date(2025, 3, 31)
    with session_scope(env.app.state.engine) as session:
        session.add(
            UsageBucket(
                org="acme", family="x", bucket=unix(day, 600), model="gpt-4o-2024-08-06",
                tokens=1_000_000, requests=1, prompt_tokens=1_000_000, completion_tokens=0,
            )
        )  # fmt: skip
    env.fake.add_cost(
        at=unix(day, 60), amount=Decimal("7.50"), line_item="gpt-4o-2024-08-06, input",
        quantity=3_000_000, quantity_unit="tokens",
    )  # fmt: skip
    response = env.admin.post(
        "/v1/billing/imports", json={"start": "2025-03-01", "end": "2025-04-02"}
    )
    assert response.status_code == 201


def _deliveries(env: BillingEnv) -> list[Delivery]:
    with session_scope(env.app.state.engine) as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())


def test_summary__each_period_is_delivered_once_to_its_subscribers(env: BillingEnv) -> None:
    _seed_march(env)
    monthly = _subscribe(env, "C0MONTHLY", "monthly")
    daily = _subscribe(env, "C0DAILY", "daily", threshold_pct=5)
    assert monthly["follows"] == {"type": "billing", "period": "monthly", "threshold_pct": None}
    listed = env.admin.get("/v1/subscriptions").json()["items"]
    assert {s["follows"]["period"] for s in listed} == {"monthly", "daily"}
    with session_scope(env.app.state.engine) as session:
        assert summary.publish_due(session, today=APRIL_2) == 2
    with session_scope(env.app.state.engine) as session:
        assert summary.publish_due(session, today=APRIL_2) == 0  # same periods: nothing again
    deliveries = _deliveries(env)
    assert {(d.destination, d.subject) for d in deliveries} == {
        ("C0MONTHLY", "monthly:2025-03-01"),
        ("C0DAILY", "daily:2025-04-01"),
    }
    assert {d.subscription_id for d in deliveries} == {monthly["id"], daily["id"]}
    with session_scope(env.app.state.engine) as session:
        assert summary.publish_due(session, today=date(2025, 4, 3)) == 1  # the next day


def test_summary__the_message_shows_billed_beside_computed_and_the_causes(
    env: BillingEnv,
) -> None:
    _seed_march(env)
    _subscribe(env, "C0MONTHLY", "monthly")
    with session_scope(env.app.state.engine) as session:
        summary.publish_due(session, today=APRIL_2)
        event = session.exec(select(Event).where(Event.kind == "billing.summary")).one()
    assert event.payload["billed_usd"] == "7.50" and event.payload["computed_usd"] == "2.50"
    message = render_event(event.kind, event.subject, event.payload)
    assert message.text == (
        "OpenAI billed $7.50 for 2025-03-01 to 2025-03-31; ratecard computes $2.50 "
        "(66.67% difference)"
    )
    body = message.blocks[0]["text"]["text"]
    assert "`gpt-4o-2024-08-06`: billed 7.50, computed 2.50" in body
    assert "traffic not seen" in body


def test_scheduler__one_replica_imports_while_it_holds_the_lease(env: BillingEnv) -> None:
    settings = env.app.state.settings
    first = CostsImporter(env.app.state.engine, settings)
    second = CostsImporter(env.app.state.engine, settings)
    assert first.acquire_lease() and not second.acquire_lease()
    before = env.fake.request_counts["GET /v1/organization/costs"]
    assert second.tick() is False
    assert env.fake.request_counts["GET /v1/organization/costs"] == before
    assert first.tick() is True
    assert env.fake.request_counts["GET /v1/organization/costs"] > before
    runs = env.reader.get("/v1/billing/imports").json()["items"]
    assert [(r["trigger"], r["status"]) for r in runs] == [("schedule", "succeeded")]
