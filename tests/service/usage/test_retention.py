"""Retention: request ids are forgotten only once their events can no longer be accepted."""

from __future__ import annotations

from datetime import timedelta

from service.db import session_scope
from service.settings import get_settings
from service.usage import prune as retention
from service.usage.janitor import UsageJanitor
from tests.service.usage.support import T0, UsageApi, ev


def prune(usage: UsageApi, days: float) -> tuple[int, int]:
    with session_scope(usage.api.app.state.engine) as session:
        return retention.prune(
            session, now=T0 + timedelta(days=days), settings=usage.api.app.state.settings
        )


def test_retention__expired_request_ids_go_but_cannot_be_counted_twice(usage: UsageApi):
    old = ev(prompt=5, completion=0, ago=7 * 86400, request_id="old")  # the oldest acceptable
    assert usage.post_events(old, ev(prompt=1, request_id="new")).json()["accepted"] == 2
    assert prune(usage, days=0) == (0, 0)  # both ids could still be re-sent and accepted
    usage.clock.advance(hours=2)
    assert prune(usage, days=2 / 24) == (1, 0)
    # the pruned id's event is now too old to be accepted, so it still counts once
    r = usage.post_events(old)
    assert r.status_code == 422 and r.json()["code"] == "bad_timestamp"
    assert (
        usage.post_events(ev(prompt=1, request_id="new", at=usage.clock.now)).json()["duplicates"]
        == 1
    )


def test_retention__buckets_older_than_the_retention_go(usage: UsageApi):
    usage.post_events(ev(prompt=5, completion=0, ago=3600))
    days = usage.api.app.state.settings.usage_retention_days
    assert prune(usage, days=days - 1) == (0, 0)
    assert prune(usage, days=days + 1) == (0, 1)
    history = usage.admin.get(
        "/v1/usage/pools/gpt-3.5-turbo/history",
        params={"from": (T0 - timedelta(hours=2)).isoformat(), "to": T0.isoformat()},
    ).json()
    assert history["total"]["tokens"] == 0


def test_retention__janitor_sweep_runs_against_the_database(database_url):
    from service.db import create_db_engine, migrate

    engine = create_db_engine(database_url)
    migrate(engine)
    janitor = UsageJanitor(engine, get_settings(database_url=database_url), interval_seconds=3600)
    janitor.start()
    try:
        assert janitor.sweep() == (0, 0)
    finally:
        janitor.stop()
        engine.dispose()
