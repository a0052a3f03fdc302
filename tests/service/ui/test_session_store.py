"""Server-side dashboard sessions, on SQLite and PostgreSQL: sign-out and revocation end a session
everywhere at once, idle and absolute timeouts, only the token's digest is stored, every replica
sees the same sessions, and CSRF tokens are per session."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.testclient import TestClient

from service.auth.service import revoke_key
from service.db import session_scope
from service.types import utcnow
from service.ui import session as ui_session
from service.ui.web import ui_now
from tests.service.conftest import build_app
from tests.service.ui.conftest import ADMIN_SECRET, Dashboard, form_value, new_key, sign_in

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=8)


@dataclass
class Clock:
    now: datetime

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def pin_clock(app: FastAPI, clock: Clock) -> None:
    app.dependency_overrides[ui_now] = lambda: clock.now


@pytest.fixture
def clock() -> Clock:
    return Clock(utcnow())


@pytest.fixture
def store(database_url: str, tmp_path, clock: Clock) -> Iterator[Dashboard]:
    app = build_app(
        database_url,
        tmp_path,
        ui_session_idle_seconds=IDLE.total_seconds(),
        ui_session_max_seconds=ABSOLUTE.total_seconds(),
    )
    pin_clock(app, clock)
    yield Dashboard(app)
    app.state.engine.dispose()


def rows(app: FastAPI) -> list[dict[str, object]]:
    with app.state.engine.connect() as connection:
        result = connection.execute(text("SELECT * FROM ui_sessions ORDER BY created_at"))
        return [dict(row) for row in result.mappings()]


def with_cookie(dashboard: Dashboard, token: str) -> TestClient:
    """Another browser holding a copy of a session cookie."""
    client = dashboard.browser()
    client.cookies.set(ui_session.COOKIE, token, path="/ui")
    return client


def test_sign_out__a_copied_cookie_is_refused_afterwards(store: Dashboard) -> None:
    client = store.signed_in(ADMIN_SECRET)
    token = client.cookies[ui_session.COOKIE]
    copy = with_cookie(store, token)
    assert copy.get("/ui/spend").status_code == 200
    csrf = form_value(client.get("/ui/spend").text, "csrf")

    assert client.post("/ui/sign-out", data={"csrf": csrf}).status_code == 303

    assert rows(store.app) == []
    assert copy.get("/ui/spend").status_code == 303
    assert with_cookie(store, token).get("/ui/jobs").status_code == 303


def test_session__revoking_the_key_ends_it_and_deletes_its_row(store: Dashboard) -> None:
    client = store.signed_in(new_key(store.app, "read"))
    other = store.signed_in(ADMIN_SECRET)
    [row, _] = rows(store.app)
    with session_scope(store.app.state.engine) as session:
        revoke_key(session, key_id=int(str(row["key_id"])))

    response = client.get("/ui/jobs")

    assert response.status_code == 303 and response.headers["location"].startswith("/ui/sign-in")
    assert [r["key_id"] for r in rows(store.app)] != [row["key_id"]]
    assert len(rows(store.app)) == 1
    assert other.get("/ui/jobs").status_code == 200  # the admin's session is not touched


def test_session__only_the_digest_of_the_token_is_stored(store: Dashboard) -> None:
    client = store.signed_in(ADMIN_SECRET)
    token = client.cookies[ui_session.COOKIE]

    [row] = rows(store.app)

    assert row["token_digest"] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) for value in row.values())
    assert len(token) >= 43  # 256 random bits
    assert set(row) == {"token_digest", "key_id", "created_at", "last_seen_at", "expires_at"}


def test_session__ends_after_the_idle_timeout(store: Dashboard, clock: Clock) -> None:
    client = store.signed_in(ADMIN_SECRET)

    clock.advance(IDLE - timedelta(seconds=1))
    assert client.get("/ui/spend").status_code == 200  # used: the idle clock restarts
    clock.advance(IDLE - timedelta(seconds=1))
    assert client.get("/ui/spend").status_code == 200
    clock.advance(IDLE)

    response = client.get("/ui/spend")

    assert response.status_code == 303 and response.headers["location"].startswith("/ui/sign-in")
    assert rows(store.app) == []


def test_session__ends_at_the_absolute_timeout_however_busy(store: Dashboard, clock: Clock) -> None:
    client = store.signed_in(ADMIN_SECRET)
    started = clock.now
    while clock.now + IDLE / 2 < started + ABSOLUTE:
        clock.advance(IDLE / 2)
        assert client.get("/ui/spend").status_code == 200

    clock.advance(IDLE / 2)

    assert client.get("/ui/spend").status_code == 303


def test_session__an_expired_post_is_refused_not_redirected(store: Dashboard, clock: Clock) -> None:
    client = store.signed_in(ADMIN_SECRET)
    csrf = form_value(client.get("/ui/spend").text, "csrf")
    clock.advance(IDLE)

    response = client.post("/ui/sign-out", data={"csrf": csrf})

    assert response.status_code == 401 and "expired" in response.text


def key_id(app: FastAPI, name: str) -> int:
    with app.state.engine.connect() as connection:
        found = connection.execute(text("SELECT id FROM api_keys WHERE name = :n"), {"n": name})
        return int(found.scalar_one())


def test_sign_in__prunes_ended_and_revoked_sessions(store: Dashboard, clock: Clock) -> None:
    store.signed_in(ADMIN_SECRET)  # left idle below
    store.signed_in(new_key(store.app, "read"))  # its key revoked below
    clock.advance(IDLE / 2)
    store.signed_in(new_key(store.app, "estimate"))  # still live at the next sign-in
    with session_scope(store.app.state.engine) as session:
        revoke_key(session, key_id=key_id(store.app, "ui-read"))
    clock.advance(IDLE / 2 + timedelta(seconds=1))
    assert len(rows(store.app)) == 3

    store.signed_in(new_key(store.app, "launch"))

    assert sorted(int(str(r["key_id"])) for r in rows(store.app)) == sorted(
        [key_id(store.app, "ui-estimate"), key_id(store.app, "ui-launch")]
    )


def test_sign_in__over_an_open_session_replaces_it(store: Dashboard) -> None:
    client = store.signed_in(ADMIN_SECRET)
    first = client.cookies[ui_session.COOKIE]

    assert sign_in(client, new_key(store.app, "read")).status_code == 303

    [row] = rows(store.app)
    assert row["token_digest"] == ui_session.token_digest(client.cookies[ui_session.COOKIE])
    assert with_cookie(store, first).get("/ui/spend").status_code == 303


def test_csrf__a_token_of_another_session_is_refused(store: Dashboard) -> None:
    first = store.signed_in(ADMIN_SECRET)
    second = store.signed_in(ADMIN_SECRET)
    first_csrf = form_value(first.get("/ui/spend").text, "csrf")
    second_csrf = form_value(second.get("/ui/spend").text, "csrf")
    assert first_csrf != second_csrf

    assert second.post("/ui/sign-out", data={"csrf": first_csrf}).status_code == 403
    assert second.get("/ui/spend").status_code == 200
    assert second.post("/ui/sign-out", data={"csrf": second_csrf}).status_code == 303
    assert first.get("/ui/spend").status_code == 200  # the other session goes on


def test_sessions__every_replica_sees_the_same_ones(
    store: Dashboard, database_url: str, tmp_path, clock: Clock
) -> None:
    other = build_app(database_url, tmp_path / "replica-b", admin_key=False)
    pin_clock(other, clock)
    replica_b = Dashboard(other)
    client = store.signed_in(ADMIN_SECRET)
    token = client.cookies[ui_session.COOKIE]
    on_b = with_cookie(replica_b, token)
    page = on_b.get("/ui/spend")
    assert page.status_code == 200

    # Signed out on replica B, the same cookie is refused on replica A.
    assert (
        on_b.post("/ui/sign-out", data={"csrf": form_value(page.text, "csrf")}).status_code == 303
    )

    assert client.get("/ui/spend").status_code == 303
    other.state.engine.dispose()
