"""The JSON estimate endpoints' fast path: group commit, cached keys and cached prices.

Every test drives real HTTP through the ASGI app. "Replica B" is a second app on the same
database: like a second process, it has a key cache and a price reference cache of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine

from service.estimates.models import EstimateRecord
from service.estimates.service import NewEstimate
from tests.service.conftest import ADMIN_SECRET, Api, build_app, client_for
from tests.service.prices.test_publishing import RELEASE

TRAINING = "/v1/estimates/training"
INFERENCE = "/v1/estimates/inference"
SEED = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}
PROBLEM = "application/problem+json"


def training(tokens: int) -> dict[str, Any]:
    return {"model": "gpt-3.5-turbo", "tokens": tokens, "n_epochs": 1, "as_of": "2023-09-01"}


def inference(model: str = "gpt-4o-mini", as_of: str = "2027-01-01") -> dict[str, Any]:
    # 1M prompt tokens, no completion: the cost per request is the input price per 1M tokens.
    return {
        "model": model,
        "as_of": as_of,
        "workload": {"prompt_tokens": 1_000_000, "completion_tokens": 0, "requests_per_day": 1},
    }


def estimate_count(engine: Engine) -> int:
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(EstimateRecord.__table__))
        return int(count.scalar_one())


@contextmanager
def replica_b(database_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    """An admin client of a second replica on the same database."""
    app = build_app(database_url, tmp_path, admin_key=False, upload_dir=tmp_path / "replica-b")
    try:
        with client_for(app, ADMIN_SECRET) as admin:
            yield admin
    finally:
        app.state.engine.dispose()


def asgi_client(api: Api, secret: str = ADMIN_SECRET) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        # Errors are answered by the app's problem handler; the transport must not re-raise them.
        transport=httpx.ASGITransport(app=api.app, raise_app_exceptions=False),
        base_url="http://ratecard.test",
        headers={"Authorization": f"Bearer {secret}"},
    )


def create_key(admin: httpx.Client, name: str, *scopes: str) -> dict[str, Any]:
    r = admin.post("/v1/keys", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_estimates__concurrent_requests_share_transactions_and_each_is_stored_before_201(
    api, database_url
):
    engine = api.app.state.engine
    # Warm up: the admin key and the price reference are cached after one request.
    assert api.admin.post(TRAINING, json=SEED).status_code == 201
    before = estimate_count(engine)
    other_process = create_engine(database_url)  # sees only what was committed
    stored_before_answer: list[bool] = []

    async def post(i: int, client: httpx.AsyncClient) -> httpx.Response:
        if i % 2:
            r = await client.post(TRAINING, json=training(1_000 * (i + 1)))
        else:
            r = await client.post(INFERENCE, json=inference(as_of="2025-01-01"))
        if r.status_code == 201:
            with other_process.connect() as connection:
                found = connection.execute(
                    select(EstimateRecord.__table__.c.id).where(
                        EstimateRecord.__table__.c.id == r.json()["id"]
                    )
                ).first()
            stored_before_answer.append(found is not None)
        return r

    commits: list[object] = []

    def count_commit(connection: object) -> None:
        commits.append(connection)

    requests = 24
    event.listen(engine, "commit", count_commit)
    try:
        async with asgi_client(api) as client:
            responses = await asyncio.wait_for(
                asyncio.gather(*(post(i, client) for i in range(requests))), timeout=30
            )
    finally:
        event.remove(engine, "commit", count_commit)
        other_process.dispose()

    assert [r.status_code for r in responses] == [201] * requests, [r.text for r in responses]
    assert stored_before_answer == [True] * requests
    assert 1 <= len(commits) < requests
    assert estimate_count(engine) == before + requests
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == requests
    for i, r in enumerate(responses):
        stored = api.admin.get(f"/v1/estimates/{r.json()['id']}")
        assert stored.status_code == 200, stored.text
        assert stored.json()["kind"] == ("training" if i % 2 else "inference")
        assert stored.json()["requested_by"] == "admin"
        assert stored.json()["result"] == r.json()
    # Each got its own price, not a neighbour's from the same batch ($8.00 per 1M tokens).
    for i, r in zip(range(1, requests, 2), responses[1::2], strict=True):
        tokens = 1_000 * (i + 1)
        assert r.json()["billing_tokens"] == tokens
        assert Decimal(r.json()["cost_usd"]) == Decimal(8 * tokens) / 1_000_000


async def test_estimates__a_database_error_while_storing_is_a_problem_response_not_a_hang(api):
    engine = api.app.state.engine
    async with asgi_client(api) as client:
        warm = await client.post(TRAINING, json=SEED)
        assert warm.status_code == 201, warm.text
        before = estimate_count(engine)
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE estimates RENAME TO estimates_moved"))
        try:
            failed = await asyncio.wait_for(
                asyncio.gather(
                    *(client.post(TRAINING, json=training(1_000 + i)) for i in range(5)),
                    client.post(INFERENCE, json=inference()),
                ),
                timeout=20,
            )
        finally:
            with engine.begin() as connection:
                connection.execute(text("ALTER TABLE estimates_moved RENAME TO estimates"))
        for r in failed:
            assert r.status_code >= 500, r.text
            assert r.headers["content-type"].startswith(PROBLEM)
            assert "Traceback" not in r.text
        assert estimate_count(engine) == before

        # The writer is not left stuck: once the table is back, estimates are stored again.
        again = await asyncio.wait_for(
            asyncio.gather(*(client.post(TRAINING, json=SEED) for _ in range(3))), timeout=20
        )
        assert [r.status_code for r in again] == [201] * 3, [r.text for r in again]
        for r in again:
            assert (await client.get(f"/v1/estimates/{r.json()['id']}")).status_code == 200
        assert estimate_count(engine) == before + 3


def test_estimates__key_revoked_on_another_replica_is_refused_on_the_next_request(
    api, database_url, tmp_path
):
    engine = api.app.state.engine
    key = create_key(api.admin, "ml-team", "estimate")
    with replica_b(database_url, tmp_path) as b, client_for(api.app, key["secret"]) as team:
        assert team.post(TRAINING, json=SEED).status_code == 201
        assert team.post(INFERENCE, json=inference()).status_code == 201  # cached key by now
        assert api.app.state.key_cache.get(key["secret"]) is not None
        before = estimate_count(engine)

        assert b.delete(f"/v1/keys/{key['id']}").status_code == 200

        # A malformed body first: the cached key must not earn it a 422.
        r = team.post(INFERENCE, json={"model": "gpt-4o"})
        assert r.status_code == 401, r.text
        assert api.app.state.key_cache.get(key["secret"]) is None
        for path, body in ((TRAINING, SEED), (INFERENCE, inference()), (TRAINING, SEED)):
            r = team.post(path, json=body)
            assert r.status_code == 401, r.text
            assert r.headers["content-type"].startswith(PROBLEM)
        assert estimate_count(engine) == before
        assert api.app.state.key_cache.get(key["secret"]) is None
        # Keys that are still valid keep working on replica A.
        assert api.admin.post(TRAINING, json=SEED).status_code == 201
        assert estimate_count(engine) == before + 1


def test_estimates__key_created_on_another_replica_works_at_once_and_cached_keys_keep_working(
    api, database_url, tmp_path
):
    engine = api.app.state.engine
    with replica_b(database_url, tmp_path) as b:
        assert api.admin.post(TRAINING, json=SEED).status_code == 201
        assert api.admin.post(TRAINING, json=SEED).status_code == 201  # admin key cached on A
        before = estimate_count(engine)

        key = create_key(b, "ml-team", "estimate")  # moves the keys revision A cached at
        with client_for(api.app, key["secret"]) as team:
            r = team.post(INFERENCE, json=inference())
            assert r.status_code == 201, r.text
            assert api.admin.get(f"/v1/estimates/{r.json()['id']}").json()["requested_by"] == (
                "ml-team"
            )
        # The admin key's cached entry is now behind: the request is redone, stored once.
        r = api.admin.post(TRAINING, json=SEED)
        assert r.status_code == 201, r.text
        assert r.json()["cost_usd"] == "2.40"
        assert estimate_count(engine) == before + 2
        assert api.admin.get(f"/v1/estimates/{r.json()['id']}").status_code == 200


def test_estimates__inference_uses_a_price_published_on_another_replica_on_the_next_request(
    api, database_url, tmp_path
):
    engine = api.app.state.engine
    with replica_b(database_url, tmp_path) as b:
        for _ in range(2):  # the second one runs on replica A's cached reference
            r = api.admin.post(INFERENCE, json=inference())
            assert r.status_code == 201, r.text
            assert r.json()["cost_per_request_usd"] == "0.15"
        before = estimate_count(engine)

        change = {
            "version": "2026-12-01",
            "effective_date": "2026-12-01",
            "source": "https://example.invalid/pricing",
            "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "0.12"}},
        }
        assert b.post("/v1/prices/versions", json=change).status_code == 201

        r = api.admin.post(INFERENCE, json=inference())
        assert r.status_code == 201, r.text
        assert (r.json()["cost_per_request_usd"], r.json()["price_version"]) == (
            "0.12",
            "2026-12-01",
        )
        stored = api.admin.get(f"/v1/estimates/{r.json()['id']}").json()
        assert (stored["price_version"], stored["cost_usd"]) == ("2026-12-01", "3.60")
        assert estimate_count(engine) == before + 1  # the stale attempt was not stored


def test_estimates__inference_of_a_model_published_on_another_replica_prices_at_once(
    api, database_url, tmp_path
):
    engine = api.app.state.engine
    new_model = inference(model="gpt-4.1-mini-2026-10-01")
    with replica_b(database_url, tmp_path) as b:
        assert api.admin.post(INFERENCE, json=inference()).status_code == 201
        r = api.admin.post(INFERENCE, json=new_model)
        assert r.status_code == 422, r.text  # replica A has the shipped reference cached
        before = estimate_count(engine)

        assert b.post("/v1/prices/versions", json=RELEASE).status_code == 201

        r = api.admin.post(INFERENCE, json=new_model)
        assert r.status_code == 201, r.text
        assert (r.json()["cost_per_request_usd"], r.json()["price_version"]) == (
            "0.30",
            "2026-12-01",
        )
        assert estimate_count(engine) == before + 1


def _priced(api: Api, n: int) -> list[NewEstimate]:
    from service.db import session_scope
    from service.estimates.schemas import TrainingRequest
    from service.estimates.service import training_estimate
    from service.prices.service import load_reference

    with session_scope(api.app.state.engine) as session:
        reference = load_reference(session)
    request = TrainingRequest.model_validate(SEED)
    return [training_estimate(reference, request=request, requested_by="admin") for _ in range(n)]


def _rows(api: Api, n: int) -> list[dict[str, Any]]:
    return [new.row for new in _priced(api, n)]


def _admin_key_id(api: Api) -> int:
    return next(k["id"] for k in api.admin.get("/v1/keys").json() if k["name"] == "admin")


def test_writer__a_failed_batch_stores_nothing_and_sends_every_row_back_to_be_redone(api):
    from service.estimates.group_commit import EstimateWriter, NotStored
    from service.prices.service import cached_reference

    engine = api.app.state.engine
    api.admin.post(TRAINING, json=SEED)  # loads the reference
    revision = cached_reference(engine).revision
    key_id = _admin_key_id(api)
    good, other = _rows(api, 2)
    duplicate = dict(_rows(api, 1)[0], id=good["id"])  # same primary key as `good`
    before = estimate_count(engine)

    async def write_all(rows: list[dict[str, Any]]) -> list[BaseException | None]:
        writer = EstimateWriter(engine)
        outcomes = await asyncio.gather(
            *(writer.write(r, reference_revision=revision, key_id=key_id) for r in rows),
            return_exceptions=True,
        )
        return list(outcomes)

    outcomes = asyncio.run(write_all([good, duplicate, other]))
    assert all(isinstance(o, NotStored) for o in outcomes)
    assert estimate_count(engine) == before  # all or nothing: the batch was one transaction
    assert asyncio.run(write_all([good, other])) == [None, None]
    assert estimate_count(engine) == before + 2


def test_writer__rows_priced_at_an_older_revision_or_for_an_unknown_key_are_not_stored(api):
    from service.estimates.group_commit import EstimateWriter, NotStored
    from service.prices.service import cached_reference

    engine = api.app.state.engine
    api.admin.post(TRAINING, json=SEED)
    revision = cached_reference(engine).revision
    key_id = _admin_key_id(api)
    current, old_prices, no_key = _rows(api, 3)
    before = estimate_count(engine)

    async def write_all() -> list[BaseException | None]:
        writer = EstimateWriter(engine)
        return list(
            await asyncio.gather(
                writer.write(current, reference_revision=revision, key_id=key_id),
                writer.write(old_prices, reference_revision=revision + 1, key_id=key_id),
                writer.write(no_key, reference_revision=revision, key_id=999_999),
                return_exceptions=True,
            )
        )

    first, second, third = asyncio.run(write_all())
    assert first is None
    assert isinstance(second, NotStored) and isinstance(third, NotStored)
    assert estimate_count(engine) == before + 1


@pytest.mark.parametrize("path", [TRAINING, INFERENCE])
def test_estimates__a_batch_that_committed_but_reported_an_error_leaves_one_record(api, path):
    # The batch's transaction commits, then the writer fails (as when the connection drops after
    # COMMIT): the request is redone on the full path, which must find the committed row.
    import logging

    engine = api.app.state.engine
    body = SEED if path == TRAINING else inference()
    assert api.admin.post(path, json=body).status_code == 201  # key and prices cached
    before = estimate_count(engine)
    logger = logging.getLogger("service.estimates.service")
    failures: list[str] = []

    def fail_once_after_commit(record: logging.LogRecord) -> bool:
        # log_stored runs after the batch's commit; an exception there fails the batch.
        if not failures and record.getMessage().startswith("estimate est_"):
            failures.append(record.getMessage())
            raise ConnectionResetError("lost after COMMIT")
        return True

    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addFilter(fail_once_after_commit)
    try:
        r = api.admin.post(path, json=body)
    finally:
        logger.removeFilter(fail_once_after_commit)
        logger.setLevel(level)
    assert r.status_code == 201, r.text
    assert failures, "the batch did not fail after its commit"
    assert r.json()["id"] in failures[0]
    assert "$None" not in failures[0]  # the log line names the recorded cost of either kind
    assert estimate_count(engine) == before + 1
    stored = api.admin.get(f"/v1/estimates/{r.json()['id']}").json()
    assert stored["result"] == r.json()


def test_store_once__an_id_already_stored_is_answered_as_stored_not_stored_again(api):
    from service.db import session_scope
    from service.estimates.service import store, store_once

    engine = api.app.state.engine
    first, second = _priced(api, 2)
    with session_scope(engine) as session:
        store(session, first)
    before = estimate_count(engine)
    with session_scope(engine) as session:
        again = store_once(session, second.with_id(first.row["id"]))
    assert again == first.result
    assert estimate_count(engine) == before
    with session_scope(engine) as session:
        assert store_once(session, second) == second.result  # a new id is stored
    assert estimate_count(engine) == before + 1


def test_store_once__waits_for_a_transaction_storing_the_same_id(api, database_url):
    # PostgreSQL: the redo's INSERT meets the batch's row before the batch commits. It must wait
    # and then keep the committed row, not store a second or fail. (SQLite's write lock orders
    # the two transactions whole.)
    import threading

    from service.db import session_scope
    from service.estimates.service import store_once

    if not database_url.startswith("postgresql"):
        pytest.skip("needs concurrent writers: PostgreSQL")
    engine = api.app.state.engine
    api.admin.post(TRAINING, json=SEED)
    first, second = _priced(api, 2)
    before = estimate_count(engine)
    redone: list[dict[str, Any]] = []
    new = second.with_id(first.row["id"])

    def redo() -> None:
        with session_scope(engine) as session:
            redone.append(store_once(session, new))

    with engine.begin() as batch:
        batch.execute(EstimateRecord.__table__.insert(), [first.row])
        worker = threading.Thread(target=redo)
        worker.start()
        worker.join(timeout=1)
        assert worker.is_alive(), "the redo did not wait for the batch's transaction"
    worker.join(timeout=10)
    assert redone == [first.result]
    assert estimate_count(engine) == before + 1


@pytest.mark.parametrize("ticks", [1, 3], ids=["before-it-starts", "while-it-stores"])
def test_writer__requests_waiting_on_a_cancelled_flush_are_answered(api, ticks):
    from service.estimates.group_commit import EstimateWriter, NotStored
    from service.prices.service import cached_reference

    engine = api.app.state.engine
    api.admin.post(TRAINING, json=SEED)
    revision = cached_reference(engine).revision
    key_id = _admin_key_id(api)
    rows = _rows(api, 3)

    async def cancel_mid_flush() -> list[BaseException | None]:
        writer = EstimateWriter(engine)
        waits = [
            asyncio.ensure_future(writer.write(r, reference_revision=revision, key_id=key_id))
            for r in rows
        ]
        for _ in range(ticks):
            await asyncio.sleep(0)
        flushing = next(iter(writer._queues.values())).flushing
        assert flushing is not None
        flushing.cancel()
        return list(await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 10))

    outcomes = asyncio.run(cancel_mid_flush())
    assert all(o is None or isinstance(o, NotStored) for o in outcomes)


def test_writer__a_revocation_arriving_during_a_batch_waits_for_its_commit(api, database_url):
    # Without the lock (SQLite's write lock taken first, PostgreSQL's FOR SHARE), a revocation
    # could commit between the batch's key check and its INSERT: a row stored for a key that
    # was already revoked.
    import threading

    from service.estimates.group_commit import EstimateWriter
    from service.prices.service import cached_reference

    engine = api.app.state.engine
    key = create_key(api.admin, "ml", "estimate")
    api.admin.post(TRAINING, json=SEED)
    revision = cached_reference(engine).revision
    (row,) = _rows(api, 1)
    other_replica = create_engine(database_url)
    revokers: list[threading.Thread] = []
    revoked_before_insert: list[bool] = []

    def revoke() -> None:
        with other_replica.begin() as connection:
            connection.execute(
                text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"),
                {"id": key["id"]},
            )

    def before_insert(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ESTIMATES") and not revokers:
            revoker = threading.Thread(target=revoke)
            revokers.append(revoker)
            revoker.start()
            revoker.join(0.5)
            revoked_before_insert.append(not revoker.is_alive())

    event.listen(engine, "before_cursor_execute", before_insert)
    try:
        asyncio.run(
            EstimateWriter(engine).write(row, reference_revision=revision, key_id=key["id"])
        )
    finally:
        event.remove(engine, "before_cursor_execute", before_insert)
    revokers[0].join(10)
    other_replica.dispose()
    assert revoked_before_insert == [False]  # the revocation waited for the batch's commit
    assert not revokers[0].is_alive()  # and then went through
