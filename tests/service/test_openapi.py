"""The OpenAPI document declares every error an operation answers, as the problems they are."""

from __future__ import annotations

from typing import Any

import pytest

from service.openapi import NO_CONTROL_CHARACTERS
from service.problems import PROBLEM

PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.fixture
def sqlite_only(sqlite_url: str) -> str:
    return sqlite_url  # the document does not depend on the database


@pytest.fixture
def document(sqlite_only, tmp_path) -> dict[str, Any]:
    from tests.service.conftest import build_app

    return build_app(sqlite_only, tmp_path).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, ops in document["paths"].items()
        for method, operation in ops.items()
    ]


def test_openapi__every_error_is_declared_as_a_problem(document):
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                assert response["content"] == PROBLEM_CONTENT, (method, path, code)
                assert response["description"], (method, path, code)


def test_openapi__validation_errors_are_problems_not_fastapis_default(document):
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    for path, method, operation in operations(document):
        assert "422" in operation["responses"], (method, path)


def test_openapi__each_operation_declares_the_errors_it_can_answer(document):
    for path, method, operation in operations(document):
        declared = {int(code) for code in operation["responses"]}
        if operation.get("security"):
            assert {401, 403} <= declared, (method, path)
        if "{" in path:
            assert 404 in declared, (method, path)
        if "requestBody" in operation:
            assert {400, 413} <= declared, (method, path)
        if path != "/healthz":
            assert 503 in declared, (method, path)
    responses = document["paths"]["/v1/prices/versions/{version}"]["put"]["responses"]
    assert "409" in responses
    assert "502" in document["paths"]["/v1/jobs"]["post"]["responses"]


def test_openapi__free_text_parameters_say_control_characters_are_refused(document):
    jobs = {p["name"]: p["schema"] for p in document["paths"]["/v1/jobs"]["get"]["parameters"]}
    team = next(alt for alt in jobs["team"]["anyOf"] if alt.get("type") == "string")
    assert team["pattern"] == NO_CONTROL_CHARACTERS
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", ()):
            if parameter["in"] not in ("path", "query"):
                continue
            schema = parameter["schema"]
            for alternative in schema.get("anyOf", [schema]):
                if alternative.get("type") == "string" and "enum" not in alternative:
                    assert alternative.get("pattern"), (method, path, parameter["name"])
