"""The cache of authenticated API keys, and the keys revision that invalidates it."""

from __future__ import annotations

from service.auth.cache import CachedKey, KeyCache
from service.auth.service import Principal, keys_revision
from service.db import session_scope
from tests.service.conftest import ADMIN_SECRET, client_for

TRAINING = "/v1/estimates/training"
SEED = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}
ALICE = Principal(1, "alice", frozenset({"estimate"}))
BOB = Principal(2, "bob", frozenset({"read"}))


def secret(n: int) -> str:
    return f"rc_cache_test_secret_{n:06d}_abcdefgh"


def current_keys_revision(api) -> int:
    with session_scope(api.app.state.engine) as session:
        return keys_revision(session)


def test_key_cache__returns_the_principal_and_revision_put_for_that_secret_only():
    cache = KeyCache()
    cache.put(secret(1), ALICE, 7)
    cache.put(secret(2), BOB, 8)
    assert cache.get(secret(1)) == CachedKey(ALICE, 7)
    assert cache.get(secret(2)) == CachedKey(BOB, 8)
    assert cache.get(secret(3)) is None
    assert cache.get(secret(1) + "x") is None
    assert cache.get(secret(1).upper()) is None


def test_key_cache__putting_a_secret_again_replaces_its_entry():
    cache = KeyCache()
    cache.put(secret(1), ALICE, 7)
    cache.put(secret(1), ALICE, 9)
    assert cache.get(secret(1)) == CachedKey(ALICE, 9)


def test_key_cache__forget_removes_only_that_secret_and_tolerates_unknown_ones():
    cache = KeyCache()
    cache.put(secret(1), ALICE, 7)
    cache.put(secret(2), BOB, 7)
    cache.forget(secret(1))
    cache.forget(secret(1))
    cache.forget(secret(99))
    assert cache.get(secret(1)) is None
    assert cache.get(secret(2)) == CachedKey(BOB, 7)


def test_key_cache__never_holds_more_than_max_entries_and_keeps_caching():
    cache = KeyCache(max_entries=8)
    secrets = [secret(n) for n in range(100)]
    for n, s in enumerate(secrets):
        cache.put(s, ALICE, n)
        assert sum(cache.get(x) is not None for x in secrets) <= 8
        assert cache.get(s) == CachedKey(ALICE, n)  # the newest entry is always kept


def test_key_cache__holds_a_key_once_it_authenticated_at_the_current_revision(api):
    r = api.admin.post("/v1/keys", json={"name": "ml-team", "scopes": ["estimate"]})
    assert r.status_code == 201, r.text
    key = r.json()
    assert api.app.state.key_cache.get(key["secret"]) is None  # creating a key caches nothing
    with client_for(api.app, key["secret"]) as team:
        assert team.post(TRAINING, json=SEED).status_code == 201
    cached = api.app.state.key_cache.get(key["secret"])
    assert cached is not None
    assert (cached.principal.key_id, cached.principal.name) == (key["id"], "ml-team")
    assert cached.principal.scopes == frozenset({"estimate"})
    assert cached.keys_revision == current_keys_revision(api)


def test_key_cache__unknown_and_revoked_secrets_are_never_cached(api):
    unknown = "rc_not_a_real_key_at_all_0000000000"
    r = api.admin.post("/v1/keys", json={"name": "gone", "scopes": ["estimate"]})
    revoked = r.json()
    assert api.admin.delete(f"/v1/keys/{revoked['id']}").status_code == 200
    for s in (unknown, revoked["secret"]):
        with client_for(api.app, s) as client:
            for _ in range(2):
                r = client.post(TRAINING, json=SEED)
                assert r.status_code == 401, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
        assert api.app.state.key_cache.get(s) is None


def test_keys_revision__changes_when_a_key_is_created_or_revoked(api):
    seen = [current_keys_revision(api)]
    r = api.admin.post("/v1/keys", json={"name": "bot", "scopes": ["read"]})
    assert r.status_code == 201, r.text
    seen.append(current_keys_revision(api))
    assert api.admin.delete(f"/v1/keys/{r.json()['id']}").status_code == 200
    seen.append(current_keys_revision(api))
    assert len(set(seen)) == 3


def test_keys_revision__stays_when_nothing_about_keys_changed(api):
    r = api.admin.post("/v1/keys", json={"name": "bot", "scopes": ["read"]})
    key_id = r.json()["id"]
    assert api.admin.delete(f"/v1/keys/{key_id}").status_code == 200
    before = current_keys_revision(api)
    # Refused or idempotent requests, reads and estimates leave it alone.
    assert api.admin.post("/v1/keys", json={"name": "bot", "scopes": ["read"]}).status_code == 409
    bad_scope = api.admin.post("/v1/keys", json={"name": "x", "scopes": ["root"]})
    assert bad_scope.status_code == 422
    assert api.admin.delete(f"/v1/keys/{key_id}").status_code == 200  # already revoked
    assert api.admin.delete("/v1/keys/999999").status_code == 404
    assert api.admin.get("/v1/keys").status_code == 200
    with client_for(api.app, ADMIN_SECRET) as admin:
        assert admin.post(TRAINING, json=SEED).status_code == 201
    assert current_keys_revision(api) == before
