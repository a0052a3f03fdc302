"""Countdown alerts: once per model and threshold, across repeated checks, to fine_tuning
subscribers. The scheduled check's work function runs at chosen moments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from service.alerts.messages import render_event
from service.alerts.models import Delivery, Event
from service.planning.alerts import check_countdown, threshold_reached
from tests.service.planning.conftest import SQLITE_ONLY, PlanningEnv

MODEL = "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"
OLD = "ft:gpt-3.5-turbo-0125:acme::old1"


def _check(env: PlanningEnv, moment: datetime) -> int:
    env.at(moment)
    env.usage(MODEL, 200, 100)  # the model stays in use
    return check_countdown(env.app.state.engine, now=moment, settings=env.settings)


def _events(env: PlanningEnv) -> list[tuple[str, dict[str, Any]]]:
    with Session(env.app.state.engine) as session:
        rows = session.exec(select(Event).order_by(col(Event.id))).all()
        return [(e.kind, e.payload) for e in rows]


def _subscribe(env: PlanningEnv, follows: dict[str, Any], channel: str) -> None:
    r = env.admin.post(
        "/v1/subscriptions",
        json={"destination": {"type": "slack", "channel": channel}, "follows": follows},
    )
    assert r.status_code == 201, r.text


def test_threshold_reached__the_nearest_threshold_only() -> None:
    assert [threshold_reached(d) for d in (45, 31, 30, 8, 7, 5, 2, 1)] == [
        None,
        None,
        30,
        30,
        7,
        7,
        7,
        1,
    ]


def test_countdown__each_threshold_fires_once_across_repeated_checks(env: PlanningEnv) -> None:
    _subscribe(env, {"type": "fine_tuning"}, "C0PLANALL")
    _subscribe(env, {"type": "fine_tuning", "model": "ft:gpt-4.1-2025-04-14:x::other"}, "C0OTHER")

    # 2026-12-07: 38 days left (no model alert yet); new jobs stop in 30 days (2027-01-06).
    assert _check(env, datetime(2026, 12, 7, 12, tzinfo=UTC)) == 1
    assert _check(env, datetime(2026, 12, 7, 18, tzinfo=UTC)) == 0
    # 2026-12-16: 29 days left -> the 30-day alert, once.
    assert _check(env, datetime(2026, 12, 16, 9, tzinfo=UTC)) == 1
    assert _check(env, datetime(2026, 12, 17, 9, tzinfo=UTC)) == 0
    # 2026-12-31: 14 days; jobs stop in 6 days -> the 7-day closing alert.
    assert _check(env, datetime(2026, 12, 31, 9, tzinfo=UTC)) == 1
    # 2027-01-08: 6 days left -> 7; fine-tuning already closed: nothing more about it.
    assert _check(env, datetime(2027, 1, 8, 9, tzinfo=UTC)) == 1
    # 2027-01-13: 1 day left -> 1, once.
    assert _check(env, datetime(2027, 1, 13, 9, tzinfo=UTC)) == 1
    assert _check(env, datetime(2027, 1, 13, 21, tzinfo=UTC)) == 0

    events = _events(env)
    assert [(k, p.get("threshold_days")) for k, p in events] == [
        ("fine_tuning.closing", 30),
        ("fine_tune.countdown", 30),
        ("fine_tuning.closing", 7),
        ("fine_tune.countdown", 7),
        ("fine_tune.countdown", 1),
    ]
    countdown = events[1][1]
    assert countdown["model"] == MODEL
    assert countdown["days_left"] == 29
    assert countdown["shutdown_date"] == "2027-01-14"
    assert countdown["replacement"] == "gpt-6-luna"
    with Session(env.app.state.engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    # Every event reaches the channel following all models; none the one following another.
    assert sorted(d.destination for d in deliveries) == ["C0PLANALL"] * 5


@SQLITE_ONLY
def test_countdown__traffic_after_shutdown_is_reported_once(env: PlanningEnv) -> None:
    _subscribe(env, {"type": "fine_tuning", "model": OLD}, "C0OLD")
    env.at(datetime(2026, 12, 7, 12, tzinfo=UTC))
    env.usage(OLD, 100, 10, n=3)

    first = check_countdown(env.app.state.engine, now=env.now, settings=env.settings)
    env.usage(OLD, 100, 10, n=2, ago=60)
    again = check_countdown(env.app.state.engine, now=env.now, settings=env.settings)

    failing = [p for k, p in _events(env) if k == "fine_tune.after_shutdown"]
    assert again == 0 and first >= 1
    (payload,) = failing
    assert payload["model"] == OLD
    assert payload["requests_since_shutdown"] == 3
    assert payload["replacement"] == "gpt-5.6-terra"
    with Session(env.app.state.engine) as session:
        (delivery,) = session.exec(
            select(Delivery).where(Delivery.event_kind == "fine_tune.after_shutdown")
        ).all()
    assert delivery.destination == "C0OLD"
    message = render_event("fine_tune.after_shutdown", OLD, payload)
    assert "failing" in message.text and "gpt-5.6-terra" in message.text


@SQLITE_ONLY
def test_countdown__a_model_without_traffic_raises_no_model_alert(env: PlanningEnv) -> None:
    env.fine_tune()  # exists at OpenAI, nobody calls it
    moment = datetime(2027, 1, 10, 9, tzinfo=UTC)
    env.at(moment)

    check_countdown(env.app.state.engine, now=moment, settings=env.settings)

    assert [k for k, _ in _events(env)] == []


def test_fine_tuning_subscription__listed_with_its_model(env: PlanningEnv) -> None:
    _subscribe(env, {"type": "fine_tuning", "model": MODEL}, "C0ONE")
    bad = env.admin.post(
        "/v1/subscriptions",
        json={
            "destination": {"type": "slack", "channel": "C0ONE"},
            "follows": {"type": "fine_tuning", "model": "gpt-4o"},
        },
    )
    items = env.admin.get("/v1/subscriptions").json()["items"]
    assert [i["follows"] for i in items] == [{"type": "fine_tuning", "model": MODEL}]
    assert bad.status_code == 422


def test_countdown_messages__say_days_left_and_what_to_do() -> None:
    countdown = render_event(
        "fine_tune.countdown",
        MODEL,
        {
            "model": MODEL,
            "base": "gpt-4o-mini-2024-07-18",
            "shutdown_date": "2027-01-14",
            "days_left": 1,
            "replacement": "gpt-6-luna",
            "requests_per_day": "1200",
        },
    )
    closing = render_event(
        "fine_tuning.closing",
        "default",
        {
            "closes_on": "2027-01-06",
            "last_day": "2027-01-05",
            "days_left": 7,
            "fine_tuned_models": 3,
        },
    )

    assert countdown.blocks[0]["text"]["text"] == f":hourglass_flowing_sand: {MODEL}: 1 day left"
    assert "stops answering on 2027-01-14" in countdown.text
    assert "OpenAI recommends gpt-6-luna" in countdown.text and "/plan" in countdown.text
    assert closing.text.startswith(":hourglass: New fine-tuning jobs stop in 7 days")
    assert "the last day to launch one is 2027-01-05" in closing.text
