"""Dashboard sessions: an API key signs in, the cookie holds no key, scopes and revocation
apply exactly as on the REST API, and state changes need the session's CSRF token."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from service.errors import NotAuthenticated
from service.types import utcnow
from service.ui import session as ui_session
from tests.service.ui.conftest import ADMIN_SECRET, Dashboard, form_value, new_key, sign_in


def test_sign_in__sets_an_httponly_strict_cookie_without_the_key(dashboard: Dashboard) -> None:
    client = dashboard.browser()

    response = sign_in(client, ADMIN_SECRET)

    assert response.status_code == 303 and response.headers["location"] == "/ui/spend"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(ui_session.COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Max-Age=28800" in cookie
    assert ADMIN_SECRET not in cookie and ADMIN_SECRET[3:12] not in cookie
    assert client.get("/ui/spend").status_code == 200


def test_sign_in__a_wrong_key_is_refused_on_the_form(dashboard: Dashboard) -> None:
    client = dashboard.browser()

    response = sign_in(client, "rc_not_a_real_key_at_all_0000000")

    assert response.status_code == 401
    assert "not valid or was revoked" in response.text
    assert ui_session.COOKIE not in client.cookies


def test_sign_in__needs_the_forms_own_token(dashboard: Dashboard) -> None:
    client = dashboard.browser()
    client.get("/ui/sign-in")

    response = client.post("/ui/sign-in", data={"key": ADMIN_SECRET, "form_token": "forged"})

    assert response.status_code == 403
    assert ui_session.COOKIE not in client.cookies


def test_sign_in__from_another_origin_is_refused(dashboard: Dashboard) -> None:
    client = dashboard.browser()
    token = form_value(client.get("/ui/sign-in").text, "form_token")

    response = client.post(
        "/ui/sign-in",
        data={"key": ADMIN_SECRET, "form_token": token},
        headers={"Origin": "http://evil.example"},
    )

    assert response.status_code == 403


def test_sign_in__next_never_leaves_the_dashboard(dashboard: Dashboard) -> None:
    client = dashboard.browser()

    response = sign_in(client, ADMIN_SECRET, next_url="//evil.example/ui/")

    assert response.headers["location"] == "/ui/spend"


def test_pages__without_a_session_redirect_to_sign_in_and_back(dashboard: Dashboard) -> None:
    client = dashboard.browser()

    response = client.get("/ui/jobs?team=a")

    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in?next=%2Fui%2Fjobs%3Fteam%3Da"


def test_pages__a_bearer_header_is_not_a_session(dashboard: Dashboard) -> None:
    client = dashboard.browser()

    response = client.get("/ui/spend", headers={"Authorization": f"Bearer {ADMIN_SECRET}"})

    assert response.status_code == 303


def test_session__a_made_up_cookie_is_not_a_session(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(new_key(dashboard.app, "read"))
    token = client.cookies[ui_session.COOKIE]
    client.cookies.clear()
    # One character changed: another token, whose digest no row has.
    client.cookies.set(ui_session.COOKIE, token[:-1] + ("A" if token[-1] != "A" else "B"))

    assert client.get("/ui/spend").status_code == 303


def test_session__revoking_the_key_ends_it_on_the_next_request(dashboard: Dashboard) -> None:
    secret = new_key(dashboard.app, "read")
    client = dashboard.signed_in(secret)
    assert client.get("/ui/spend").status_code == 200
    admin = dashboard.browser()
    [key] = [
        k
        for k in admin.get("/v1/keys", headers={"Authorization": f"Bearer {ADMIN_SECRET}"}).json()
        if k["name"] == "ui-read"
    ]
    admin.delete(f"/v1/keys/{key['id']}", headers={"Authorization": f"Bearer {ADMIN_SECRET}"})

    assert client.get("/ui/spend").status_code == 303


def test_session__expires_at_its_absolute_end(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    token = client.cookies[ui_session.COOKIE]
    timeouts = ui_session.Timeouts.of(dashboard.app.state.settings)
    now = utcnow()

    with Session(dashboard.app.state.engine) as session:
        assert (
            ui_session.resume(session, token=token, now=now, timeouts=timeouts).principal.name
            == "admin"
        )
        with pytest.raises(NotAuthenticated, match="expired"):
            ui_session.resume(session, token=token, now=now + timeouts.absolute, timeouts=timeouts)


def test_sign_out__needs_the_csrf_token_then_ends_the_session(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    csrf = form_value(client.get("/ui/spend").text, "csrf")

    assert client.post("/ui/sign-out", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/ui/spend").status_code == 200

    response = client.post("/ui/sign-out", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/ui/sign-in"
    assert client.get("/ui/spend").status_code == 303


def test_launch__a_read_key_gets_a_refused_page_and_no_form(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(new_key(dashboard.app, "read"))
    page = client.get("/ui/jobs")
    csrf = form_value(page.text, "csrf")

    response = client.post(
        "/ui/jobs",
        data={
            "training_file": "file-abc",
            "model": "gpt-4o-mini",
            "team": "a",
            "idempotency_key": "x",
            "csrf": csrf,
        },
    )

    assert 'id="launch-form"' not in page.text and 'id="no-launch"' in page.text
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "lacks the &#39;launch&#39; scope" in response.text


def test_launch__a_launch_key_without_the_csrf_token_is_refused(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(new_key(dashboard.app, "read", "launch"))
    page = client.get("/ui/jobs")

    response = client.post(
        "/ui/jobs",
        data={
            "training_file": "file-abc",
            "model": "gpt-4o-mini",
            "team": "a",
            "idempotency_key": "x",
        },
    )

    assert 'id="launch-form"' in page.text
    assert response.status_code == 403 and "CSRF" in response.text


def test_pages__an_estimate_only_key_may_not_read(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(new_key(dashboard.app, "estimate"))

    response = client.get("/ui/spend")

    assert response.status_code == 403 and "read" in response.text
