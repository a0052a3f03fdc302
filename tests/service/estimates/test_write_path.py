"""The JSON estimate endpoints: each estimate stored before its 201, and a publish or a
revocation that committed first wins on every replica.

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
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from service.estimates.models import EstimateRecord
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


async def test_estimates__concurrent_requests_are_each_stored_before_their_201(api, database_url):
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

    requests = 24
    try:
        async with asgi_client(api) as client:
            responses = await asyncio.wait_for(
                asyncio.gather(*(post(i, client) for i in range(requests))), timeout=30
            )
    finally:
        other_process.dispose()

    assert [r.status_code for r in responses] == [201] * requests, [r.text for r in responses]
    assert stored_before_answer == [True] * requests
    assert estimate_count(engine) == before + requests
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == requests
    for i, r in enumerate(responses):
        stored = api.admin.get(f"/v1/estimates/{r.json()['id']}")
        assert stored.status_code == 200, stored.text
        assert stored.json()["kind"] == ("training" if i % 2 else "inference")
        assert stored.json()["requested_by"] == "admin"
        assert stored.json()["result"] == r.json()
    # Each got its own price ($8.00 per 1M tokens).
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

        # Nothing is left stuck: once the table is back, estimates are stored again.
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
        before = estimate_count(engine)

        assert b.delete(f"/v1/keys/{key['id']}").status_code == 200

        # A malformed body first: the cached key must not earn it a 422.
        r = team.post(INFERENCE, json={"model": "gpt-4o"})
        assert r.status_code == 401, r.text
        for path, body in ((TRAINING, SEED), (INFERENCE, inference()), (TRAINING, SEED)):
            r = team.post(path, json=body)
            assert r.status_code == 401, r.text
            assert r.headers["content-type"].startswith(PROBLEM)
        assert estimate_count(engine) == before
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
            "version": "2026-12-20",
            "effective_date": "2026-12-20",
            "source": "https://example.invalid/pricing",
            "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "0.12"}},
        }
        assert b.post("/v1/prices/versions", json=change).status_code == 201

        r = api.admin.post(INFERENCE, json=inference())
        assert r.status_code == 201, r.text
        assert (r.json()["cost_per_request_usd"], r.json()["price_version"]) == (
            "0.12",
            "2026-12-20",
        )
        stored = api.admin.get(f"/v1/estimates/{r.json()['id']}").json()
        assert (stored["price_version"], stored["cost_usd"]) == ("2026-12-20", "3.60")
        assert estimate_count(engine) == before + 1


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
            RELEASE["version"],
        )
        assert estimate_count(engine) == before + 1


JSON = "application/json"


@pytest.mark.parametrize("path", ["training", "inference"])
def test_estimates__a_missing_key_is_401_even_when_the_body_is_not_json(api, path):
    r = api.anon.post(f"/v1/estimates/{path}", content=b"{", headers={"content-type": JSON})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)


def test_estimates__a_key_without_the_scope_is_403_before_its_body_is_read(api):
    reader = api.client_with("read")
    r = reader.post("/v1/estimates/inference", content=b"{", headers={"content-type": JSON})
    assert r.status_code == 403


def test_estimates__openapi_documents_body_response_and_bearer_key(api):
    paths = api.anon.get("/openapi.json").json()["paths"]
    for path, request, response in [
        ("/v1/estimates/training", "TrainingRequest", "TrainingEstimateOut"),
        ("/v1/estimates/inference", "InferenceRequest", "InferenceEstimateOut"),
    ]:
        operation = paths[path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith("/" + request)
        created = operation["responses"]["201"]["content"]["application/json"]["schema"]
        assert created["$ref"].endswith("/" + response)
        assert operation["security"] == [{"HTTPBearer": []}]
        assert "422" in operation["responses"]
