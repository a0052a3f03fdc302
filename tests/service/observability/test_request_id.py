"""X-Request-ID: carried from the caller when safe, made otherwise, echoed, in problem bodies."""

from __future__ import annotations

import re

import pytest

from service.observability.request_id import accept_or_make

MADE = re.compile(r"^[0-9a-f]{32}$")


def test_request_id__a_safe_caller_id_is_echoed_on_success(api):
    response = api.admin.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42:trace=9/x+y"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.42:trace=9/x+y"


def test_request_id__one_is_made_when_the_caller_sends_none(api):
    first = api.admin.get("/healthz").headers["X-Request-ID"]
    second = api.admin.get("/healthz").headers["X-Request-ID"]
    assert MADE.match(first) and MADE.match(second) and first != second


def test_request_id__problem_bodies_carry_it(api):
    response = api.anon.get("/v1/keys", headers={"X-Request-ID": "support-ticket-1"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == "support-ticket-1"
    assert response.headers["X-Request-ID"] == "support-ticket-1"
    assert response.headers.get_list("X-Request-ID") == ["support-ticket-1"]  # not twice


def test_request_id__problems_from_the_guards_before_routing_carry_it(api):
    response = api.admin.get("/v1/prices?model=a%00b", headers={"X-Request-ID": "guarded"})
    assert response.status_code == 422
    assert response.json()["request_id"] == "guarded"


def test_request_id__validation_problems_carry_a_made_one(api):
    response = api.admin.post("/v1/estimates/training", json={"model": 3})
    assert response.status_code == 422
    assert MADE.match(response.json()["request_id"])
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "given",
    ["has space", "x" * 129, 'quote"d', "new\u2028line", "", "semi;colon", "<script>"],
)
def test_request_id__an_unsafe_one_is_replaced(api, given):
    response = api.anon.get("/v1/keys", headers={"X-Request-ID": given.encode()})
    echoed = response.headers["X-Request-ID"]
    assert echoed != given and MADE.match(echoed)
    assert response.json()["request_id"] == echoed


def test_request_id__the_longest_safe_id_is_kept():
    assert accept_or_make("a" * 128) == "a" * 128
    assert MADE.match(accept_or_make("a" * 129))


def test_request_id__declared_in_the_problem_schema(api):
    schema = api.admin.get("/openapi.json").json()["components"]["schemas"]["Problem"]
    assert schema["properties"]["request_id"]["type"] == "string"


def test_request_id__an_unexpected_error_is_a_500_problem_with_the_id(sqlite_url, tmp_path):
    from tests.service.conftest import build_app, client_for

    app = build_app(sqlite_url, tmp_path)

    async def broken() -> None:
        raise RuntimeError("a defect")

    app.add_api_route("/broken", broken)
    with client_for(app, None) as client:
        response = client.get("/broken", headers={"X-Request-ID": "defect-42"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "defect-42"
    assert response.headers["X-Request-ID"] == "defect-42"
