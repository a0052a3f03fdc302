import pytest
from sqlmodel import col

from service.auth.models import ApiKey
from service.auth.service import create_key
from service.db import session_scope


def test_keys__missing_key_is_401_problem(api):
    r = api.anon.get("/v1/prices/versions")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401


def test_keys__wrong_key_is_401(api):
    from tests.service.conftest import client_for

    with client_for(api.app, "rc_not_a_real_key_at_all_000000") as c:
        assert c.get("/v1/prices/versions").status_code == 401


def test_keys__key_in_query_string_is_not_accepted(api):
    from tests.service.conftest import ADMIN_SECRET

    assert api.anon.get("/v1/prices/versions", params={"api_key": ADMIN_SECRET}).status_code == 401


def test_keys__read_key_cannot_estimate_403(api):
    finance = api.client_with("read", name="finance")
    assert finance.get("/v1/prices/versions").status_code == 200
    r = finance.post("/v1/estimates/training", json={"model": "gpt-3.5-turbo", "tokens": 1})
    assert r.status_code == 403
    assert "estimate" in r.json()["detail"]


def test_keys__created_once_listed_without_secret_and_revocable(api):
    r = api.admin.post("/v1/keys", json={"name": "bot", "scopes": ["estimate", "launch", "read"]})
    assert r.status_code == 201
    created = r.json()
    assert created["secret"].startswith("rc_")
    listed = api.admin.get("/v1/keys").json()
    assert all("secret" not in k for k in listed)
    assert "bot" in [k["name"] for k in listed]
    from tests.service.conftest import client_for

    with client_for(api.app, created["secret"]) as bot:
        assert bot.get("/v1/prices/versions").status_code == 200
        assert api.admin.delete(f"/v1/keys/{created['id']}").status_code == 200
        assert bot.get("/v1/prices/versions").status_code == 401


def test_keys__stored_only_as_hash(api):
    secret = api.admin.post("/v1/keys", json={"name": "x", "scopes": ["read"]}).json()["secret"]
    with session_scope(api.app.state.engine) as session:
        from sqlmodel import select

        rows = session.exec(select(ApiKey)).all()
        assert all(secret not in (r.key_hash, r.prefix) for r in rows)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a", "scopes": ["root"]},
        {"name": "a", "scopes": []},
        {"name": "", "scopes": ["read"]},
    ],
)
def test_keys__invalid_create_is_422(api, body):
    assert api.admin.post("/v1/keys", json=body).status_code == 422


def test_keys__duplicate_name_is_409(api):
    api.admin.post("/v1/keys", json={"name": "dup", "scopes": ["read"]})
    assert api.admin.post("/v1/keys", json={"name": "dup", "scopes": ["read"]}).status_code == 409


def test_keys__non_admin_cannot_manage_keys(api):
    assert api.client_with("read", "estimate", "launch").get("/v1/keys").status_code == 403


def _last_used(api, name):
    keys = api.admin.get("/v1/keys").json()
    return next(k["last_used_at"] for k in keys if k["name"] == name)


def test_keys__last_used_at_is_recorded_on_use_once_an_hour(api):
    reader = api.client_with("read", name="finance")
    assert _last_used(api, "finance") is None
    assert reader.get("/v1/prices/versions").status_code == 200
    first = _last_used(api, "finance")
    assert first is not None
    assert reader.get("/v1/estimates").status_code == 200
    assert _last_used(api, "finance") == first  # within the hour: no second write


def test_keys__last_used_at_is_recorded_by_the_estimate_fast_path(api):
    ml = api.client_with("estimate", name="ml")
    body = {"model": "gpt-3.5-turbo", "tokens": 1000, "n_epochs": 1}
    for _ in range(3):  # the second and third come from the key cache
        assert ml.post("/v1/estimates/training", json=body).status_code == 201
    assert _last_used(api, "ml") is not None


def test_last_used__due_once_per_granularity():
    from datetime import UTC, datetime, timedelta

    from service.auth.last_used import LastUsed

    last_used = LastUsed(granularity=timedelta(hours=1))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert last_used.due(7, now=t0)
    assert not last_used.due(7, now=t0 + timedelta(minutes=59))
    assert last_used.due(8, now=t0 + timedelta(minutes=59))  # per key
    assert last_used.due(7, now=t0 + timedelta(hours=1))


def test_last_used__another_replicas_recent_record_is_kept(api):
    from datetime import timedelta

    from service.auth.last_used import LastUsed
    from service.types import utcnow

    api.client_with("read", name="finance")
    key_id = next(k["id"] for k in api.admin.get("/v1/keys").json() if k["name"] == "finance")
    now = utcnow()
    LastUsed().record(api.app.state.engine, key_id, now=now - timedelta(minutes=30))
    LastUsed().record(api.app.state.engine, key_id, now=now)  # a second replica, 30 min later
    recorded = _last_used(api, "finance")
    assert recorded.startswith((now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))


def _key_id(api, name):
    return next(k["id"] for k in api.admin.get("/v1/keys").json() if k["name"] == name)


def test_keys__last_admin_cannot_be_revoked(api):
    r = api.admin.delete(f"/v1/keys/{_key_id(api, 'admin')}")
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "last live admin key" in r.json()["detail"]
    assert api.admin.get("/v1/keys").status_code == 200  # still an admin


def test_keys__an_admin_key_can_be_revoked_while_another_admin_key_lives(api):
    api.client_with("admin", "read", name="ops")
    assert api.admin.delete(f"/v1/keys/{_key_id(api, 'ops')}").status_code == 200
    assert api.admin.delete(f"/v1/keys/{_key_id(api, 'admin')}").status_code == 409


def test_keys__revoking_an_unknown_key_is_404(api):
    assert api.admin.delete("/v1/keys/999999").status_code == 404


def _live_admins(api) -> list[int]:
    from sqlmodel import select

    with session_scope(api.app.state.engine) as session:
        live = session.exec(select(ApiKey).where(col(ApiKey.revoked_at).is_(None))).all()
        return [k.id for k in live if "admin" in k.scope_set]


def test_keys__two_admins_revoking_each_other_at_once_leave_one(api):
    import threading

    from service.auth.service import revoke_key
    from service.errors import Conflict

    for round_ in range(5):
        with session_scope(api.app.state.engine) as session:
            pair = [create_key(session, name=f"{n}-{round_}", scopes=["admin"])[0].id for n in "ab"]
        for other in set(_live_admins(api)) - set(pair):
            with session_scope(api.app.state.engine) as session:
                revoke_key(session, key_id=other)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def revoke(
            key_id: int, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes
        ) -> None:
            barrier.wait()
            try:
                with session_scope(api.app.state.engine) as session:
                    revoke_key(session, key_id=key_id)
                outcomes.append("revoked")
            except Conflict:
                outcomes.append("refused")

        threads = [threading.Thread(target=revoke, args=(key_id,)) for key_id in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["refused", "revoked"]
        assert len(_live_admins(api)) == 1
