"""The specialised handler of the JSON estimate endpoints answers as FastAPI's own would."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator

from service.estimates import router as estimates
from service.estimates.recording import RecorderDep, get_recorder
from service.estimates.route import EstimateRoute
from service.estimates.schemas import InferenceRequest, TrainingRequest
from service.problems import install_problem_handlers
from tests.service.asgi import bearer, call, http_scope
from tests.service.conftest import ADMIN_SECRET, client_for

TRAINING = {"model": "gpt-3.5-turbo", "tokens": 1000, "n_epochs": 3, "as_of": "2024-06-01"}
INFERENCE = {
    "model": "gpt-3.5-turbo",
    "as_of": "2024-06-01",
    "workload": {"prompt_tokens": 10, "completion_tokens": 2, "requests_per_day": 5},
}
JSON = "application/json"

# (body bytes, content type): every way a body can be wrong, and some ways it can be right.
BODIES = [
    (b"", JSON),
    (b"{", JSON),
    (b"\xff\xfe", JSON),
    (b"[]", JSON),
    (b"null", JSON),
    (b"{}", JSON),
    (b'{"model": "a\\ud800"}', JSON),
    (b'{"model": 5}', JSON),
    (b"[" * 100_000, JSON),  # deeper than the JSON parser goes: 400
    (b'"\xff"', JSON),  # not UTF-8: 400
    ("GOOD", "application/a/b+json"),  # not a JSON media type to FastAPI
    ("GOOD", None),
    ("GOOD", "text/plain"),
    ("GOOD", "application/vnd.finance+json; charset=utf-8"),
    ("GOOD", "Application/JSON"),
    ("GOOD", JSON),
]


def _reference_app(app: FastAPI) -> FastAPI:
    """The same two endpoints on FastAPI's general handler, sharing the real app's state."""
    reference = FastAPI()
    reference.state = app.state
    install_problem_handlers(reference)
    plain = APIRouter(route_class=APIRoute)
    plain.add_api_route(
        "/v1/estimates/training", estimates.training, methods=["POST"], status_code=201
    )
    plain.add_api_route(
        "/v1/estimates/inference", estimates.inference, methods=["POST"], status_code=201
    )
    reference.include_router(plain)
    return reference


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    # Each request's id is its own (the reference app makes none): the rest must match.
    return {k: v for k, v in body.items() if k != "request_id"}


def _comparable(response: Any) -> tuple[int, str, Any]:
    body = _without_request_id(response.json())
    if response.status_code == 201:
        body = {k: v for k, v in body.items() if k not in ("id", "created_at")}
    return response.status_code, response.headers["content-type"], body


@pytest.mark.parametrize(("path", "good"), [("training", TRAINING), ("inference", INFERENCE)])
@pytest.mark.parametrize(("content", "content_type"), BODIES)
def test_route__answers_every_body_as_fastapis_handler(api, path, good, content, content_type):
    estimator = api.client_with("estimate")
    secret = estimator.headers["Authorization"].removeprefix("Bearer ")
    with client_for(_reference_app(api.app), secret) as general:
        raw = json.dumps(good).encode() if content == "GOOD" else content
        headers = {"content-type": content_type} if content_type else {}
        ours = estimator.post(f"/v1/estimates/{path}", content=raw, headers=headers)
        theirs = general.post(f"/v1/estimates/{path}", content=raw, headers=headers)
    assert _comparable(ours) == _comparable(theirs)
    assert ours.status_code in (201, 400, 422)
    assert ours.headers["content-type"].startswith(("application/json", "application/problem"))


@pytest.mark.parametrize("path", ["training", "inference"])
def test_route__a_missing_key_is_401_even_when_the_body_is_not_json(api, path):
    r = api.anon.post(f"/v1/estimates/{path}", content=b"{", headers={"content-type": JSON})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_route__a_forbidden_key_is_403_before_its_body_is_read(api):
    reader = api.client_with("read")
    r = reader.post("/v1/estimates/inference", content=b"{", headers={"content-type": JSON})
    assert r.status_code == 403


def test_route__openapi_documents_body_response_and_bearer_key(api):
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


def test_route__refuses_an_endpoint_whose_parameters_it_would_ignore():
    router = APIRouter(route_class=EstimateRoute)

    async def with_query(
        body: InferenceRequest, recorder: RecorderDep, dry_run: bool = Query(False)
    ) -> JSONResponse: ...

    async def with_request(
        body: InferenceRequest, recorder: RecorderDep, request: Request
    ) -> JSONResponse: ...

    async def embedded(
        body: Annotated[InferenceRequest, Body(embed=True)], recorder: RecorderDep
    ) -> JSONResponse: ...

    async def returns_a_dict(body: InferenceRequest, recorder: RecorderDep) -> dict: ...

    async def with_validator(
        body: Annotated[InferenceRequest, AfterValidator(lambda b: b)], recorder: RecorderDep
    ) -> JSONResponse: ...

    async def optional_body(
        recorder: RecorderDep, body: InferenceRequest = Body(None)
    ) -> JSONResponse: ...

    async def without_recorder(body: TrainingRequest) -> JSONResponse: ...

    def not_async(body: TrainingRequest, recorder: RecorderDep) -> JSONResponse: ...

    for endpoint in (
        with_query,
        with_request,
        embedded,
        returns_a_dict,
        with_validator,
        optional_body,
        without_recorder,
        not_async,
    ):
        with pytest.raises(TypeError, match="EstimateRoute serves"):
            router.add_api_route("/x", endpoint, methods=["POST"])
    with pytest.raises(TypeError, match="EstimateRoute serves"):
        router.add_api_route("/x", estimates.inference, methods=["POST"], strict_content_type=False)


def _teapot() -> None:
    raise HTTPException(418, "a dependency ran")


def test_route__an_including_routers_dependencies_run(api):
    # include_router adds the router's dependencies to each route: the specialised handler
    # would skip them, so FastAPI's runs.
    router = APIRouter(route_class=EstimateRoute)
    router.add_api_route("/guarded", estimates.inference, methods=["POST"], status_code=201)
    app = FastAPI()
    app.state = api.app.state
    install_problem_handlers(app)
    app.include_router(router, dependencies=[Depends(_teapot)])
    with client_for(app, ADMIN_SECRET) as client:
        assert client.post("/guarded", json=INFERENCE).status_code == 418


def test_route__dependency_overrides_are_honoured(api):
    async def refuse() -> None:
        raise HTTPException(418, "overridden")

    api.app.dependency_overrides[get_recorder] = refuse
    try:
        assert api.admin.post("/v1/estimates/inference", json=INFERENCE).status_code == 418
    finally:
        api.app.dependency_overrides.clear()
    assert api.admin.post("/v1/estimates/inference", json=INFERENCE).status_code == 201


def _disconnecting_post(app: FastAPI, secret: str) -> tuple[int, dict]:
    """A client that sends half a body and goes away."""
    headers = [bearer(secret), (b"content-type", JSON.encode()), (b"transfer-encoding", b"chunked")]
    scope = http_scope("POST", "/v1/estimates/inference", headers)
    status, body = asyncio.run(call(app, scope, [b'{"model": "gpt'], client_leaves_mid_body=True))
    return status, _without_request_id(json.loads(body))


def test_route__a_client_gone_mid_body_is_400_as_fastapis_handler(api, caplog):
    ours = _disconnecting_post(api.app, ADMIN_SECRET)
    theirs = _disconnecting_post(_reference_app(api.app), ADMIN_SECRET)
    assert ours == theirs
    assert ours[0] == 400
    assert "unhandled error" not in caplog.text
