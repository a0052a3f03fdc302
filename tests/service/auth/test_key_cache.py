"""The cache of authenticated API keys."""

from __future__ import annotations

from sqlalchemy import text

from service.auth.cache import KeyCache
from service.auth.service import Principal
from tests.service.conftest import client_for

TRAINING = "/v1/estimates/training"
SEED = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}
ALICE = Principal(1, "alice", frozenset({"estimate"}))
BOB = Principal(2, "bob", frozenset({"read"}))


def secret(n: int) -> str:
    return f"rc_cache_test_secret_{n:06d}_abcdefgh"


def test_key_cache__returns_the_principal_put_for_that_secret_only():
    cache = KeyCache()
    cache.put(secret(1), ALICE)
    cache.put(secret(2), BOB)
    assert cache.get(secret(1)) == ALICE
    assert cache.get(secret(2)) == BOB
    assert cache.get(secret(3)) is None
    assert cache.get(secret(1) + "x") is None
    assert cache.get(secret(1).upper()) is None


def test_key_cache__putting_a_secret_again_replaces_its_entry():
    cache = KeyCache()
    cache.put(secret(1), ALICE)
    cache.put(secret(1), BOB)
    assert cache.get(secret(1)) == BOB


def test_key_cache__forget_removes_only_that_secret_and_tolerates_unknown_ones():
    cache = KeyCache()
    cache.put(secret(1), ALICE)
    cache.put(secret(2), BOB)
    cache.forget(secret(1))
    cache.forget(secret(1))
    cache.forget(secret(99))
    assert cache.get(secret(1)) is None
    assert cache.get(secret(2)) == BOB


def test_key_cache__forget_key_drops_every_secret_of_that_key_id_only():
    cache = KeyCache()
    cache.put(secret(1), ALICE)
    cache.put(secret(2), BOB)
    cache.forget_key(ALICE.key_id)
    cache.forget_key(12345)
    assert cache.get(secret(1)) is None
    assert cache.get(secret(2)) == BOB


def test_key_cache__never_holds_more_than_max_entries_and_keeps_caching():
    cache = KeyCache(max_entries=8)
    secrets = [secret(n) for n in range(100)]
    for s in secrets:
        cache.put(s, ALICE)
        assert sum(cache.get(x) is not None for x in secrets) <= 8
        assert cache.get(s) == ALICE  # the newest entry is always kept


def test_key_cache__holds_a_key_once_it_authenticated(api):
    r = api.admin.post("/v1/keys", json={"name": "ml-team", "scopes": ["estimate"]})
    assert r.status_code == 201, r.text
    key = r.json()
    assert api.app.state.key_cache.get(key["secret"]) is None  # creating a key caches nothing
    with client_for(api.app, key["secret"]) as team:
        assert team.post(TRAINING, json=SEED).status_code == 201
    cached = api.app.state.key_cache.get(key["secret"])
    assert cached is not None
    assert (cached.key_id, cached.name) == (key["id"], "ml-team")
    assert cached.scopes == frozenset({"estimate"})


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


def test_key_cache__revoking_drops_the_key_on_this_replica_at_once(api):
    r = api.admin.post("/v1/keys", json={"name": "ml", "scopes": ["estimate"]})
    key = r.json()
    with client_for(api.app, key["secret"]) as team:
        assert team.post(TRAINING, json=SEED).status_code == 201
        assert api.app.state.key_cache.get(key["secret"]) is not None
        assert api.admin.delete(f"/v1/keys/{key['id']}").status_code == 200
        assert api.app.state.key_cache.get(key["secret"]) is None
        # A bad body from a revoked key is still a 401, not a validation error.
        assert team.post(TRAINING, json={"model": ""}).status_code == 401


def test_key_cache__a_key_revoked_by_hand_in_the_database_is_refused_on_its_next_estimate(api):
    # Not through the API (an operator's UPDATE, or a replica running older code): the cached
    # entry stays, and the storing transaction is what refuses it.
    r = api.admin.post("/v1/keys", json={"name": "ml", "scopes": ["estimate"]})
    key = r.json()
    engine = api.app.state.engine
    with client_for(api.app, key["secret"]) as team:
        assert team.post(TRAINING, json=SEED).status_code == 201
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"),
                {"id": key["id"]},
            )
        with engine.connect() as connection:
            before = connection.execute(text("SELECT count(*) FROM estimates")).scalar_one()
        r = team.post(TRAINING, json=SEED)
        assert r.status_code == 401, r.text
        with engine.connect() as connection:
            after = connection.execute(text("SELECT count(*) FROM estimates")).scalar_one()
        assert after == before
        assert api.app.state.key_cache.get(key["secret"]) is None


READS = ("/v1/estimates/{id}", "/v1/estimates?limit=5", "/v1/estimates.csv", "/v1/usage/pools")


def test_key_cache__a_cached_read_key_revoked_by_hand_is_refused_on_every_read_path(api):
    # The read paths answer from the key cache after one liveness lookup by id: that lookup,
    # not the cache, decides, so an UPDATE made outside this replica refuses the key at once.
    r = api.admin.post("/v1/keys", json={"name": "finance", "scopes": ["read"]})
    key = r.json()
    estimate = api.admin.post(TRAINING, json=SEED).json()
    paths = [p.format(id=estimate["id"]) for p in READS]
    engine = api.app.state.engine
    with client_for(api.app, key["secret"]) as finance:
        for path in paths:
            assert finance.get(path).status_code == 200, path
        assert api.app.state.key_cache.get(key["secret"]) is not None
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"),
                {"id": key["id"]},
            )
        for path in paths:
            r = finance.get(path)
            assert r.status_code == 401, (path, r.text)
        assert api.app.state.key_cache.get(key["secret"]) is None


def test_key_cache__a_cached_secret_whose_key_row_was_replaced_authenticates_afresh(api):
    # Deleted by hand and inserted again under a new id (a restore): the cached id is gone,
    # so the secret is looked up again rather than refused.
    r = api.admin.post("/v1/keys", json={"name": "finance", "scopes": ["read"]})
    key = r.json()
    engine = api.app.state.engine
    with client_for(api.app, key["secret"]) as finance:
        assert finance.get("/v1/estimates?limit=1").status_code == 200
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) "
                    "SELECT 'restored', prefix, key_hash, scopes, created_at FROM api_keys "
                    "WHERE id = :id"
                ),
                {"id": key["id"]},
            )
            connection.execute(text("DELETE FROM api_keys WHERE id = :id"), {"id": key["id"]})
        assert finance.get("/v1/estimates?limit=1").status_code == 200
        cached = api.app.state.key_cache.get(key["secret"])
        assert cached is not None and cached.key_id != key["id"]


def test_key_cache__the_pools_view_checks_a_cached_key_in_its_own_statement(api):
    # The pools view reads the key's liveness with the pools (service.deps.keyed_read): a key
    # whose row was replaced under a new id is looked up again and answered, not refused.
    r = api.admin.post("/v1/keys", json={"name": "finance", "scopes": ["read"]})
    key = r.json()
    engine = api.app.state.engine
    with client_for(api.app, key["secret"]) as finance:
        assert finance.get("/v1/usage/pools").status_code == 200
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) "
                    "SELECT 'restored', prefix, key_hash, scopes, created_at FROM api_keys "
                    "WHERE id = :id"
                ),
                {"id": key["id"]},
            )
            connection.execute(text("DELETE FROM api_keys WHERE id = :id"), {"id": key["id"]})
        assert finance.get("/v1/usage/pools").status_code == 200
        cached = api.app.state.key_cache.get(key["secret"])
        assert cached is not None and cached.key_id != key["id"]
    # A key without the read scope: 403, as on every read path.
    estimate_only = api.client_with("estimate")
    with estimate_only:
        assert estimate_only.get("/v1/usage/pools").status_code == 403
