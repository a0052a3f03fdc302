"""The OpenAPI document, with every error an operation can answer.

FastAPI declares only its own 422 (as `HTTPValidationError`, in `application/json`), while every
error this service sends is an RFC 9457 problem (service/problems.py). The errors are declared
here, from what each operation is (secured, has path parameters, reads a body, writes), so the
feature routers declare nothing for them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.problems import PROBLEM

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: every error answer, in `application/problem+json`.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["about:blank"]},
        "title": {"type": "string", "examples": ["Not found"]},
        "status": {"type": "integer", "examples": [404]},
        "detail": {"type": "string", "description": "What went wrong, in words."},
        "request_id": {
            "type": "string",
            "maxLength": 128,
            "description": "The request's id, also in the `X-Request-ID` response header and in "
            "every log line written while handling it: the caller's `X-Request-ID` when it is "
            "1-128 characters of `A-Z a-z 0-9 . _ : = + / -`, else one the service made.",
            "examples": ["4bf92f3577b34da6a3ce929d0e0e4736"],
        },
        "errors": {
            "type": "array",
            "description": "Invalid requests: one entry for each field refused.",
            "items": {"$ref": "#/components/schemas/ProblemItem"},
        },
    },
    # Some problems carry more (the unknown model's suggestions, how to supply a price).
    "additionalProperties": True,
}
_PROBLEM_ITEM_SCHEMA: dict[str, Any] = {
    "title": "ProblemItem",
    "description": "A field refused: `loc`, `msg` and `type` for a request that does not fit the "
    "schema; an endpoint's own checks may say more (an event's `index`, `timestamp`, `message`).",
    "type": "object",
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where: body, query, path or header, then the field.",
        },
        "msg": {"type": "string", "description": "What is allowed, in words."},
        "type": {"type": "string"},
    },
    "additionalProperties": True,
}
# What service.limits.ControlCharacterGuard lets through, said on every path and query string.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"

_DESCRIPTIONS = {
    400: "The body is not well-formed (not JSON, not UTF-8, not multipart).",
    401: "No API key, or one that is unknown or revoked (`WWW-Authenticate: Bearer`).",
    403: "The API key lacks the scope this operation needs.",
    404: "Nothing by that identifier.",
    409: "The request conflicts with the current state (immutable, already done, in use).",
    413: "The request body is over the size limit.",
    422: "Invalid request: a field, parameter or value is refused (see `errors`).",
    502: "OpenAI answered with an error or could not be reached.",
    503: "The database is unreachable or busy (`Retry-After`); retry later.",
}
_WRITES = frozenset({"post", "put", "patch", "delete"})
# POSTs that compute an answer and store nothing another request could conflict with.
_COMPUTE_ONLY = ("/v1/estimates", "/v1/usage", "/v1/jobs/preview")
# Operations that look up a price version by date or name without a path parameter.
_VERSION_LOOKUPS = ("/v1/prices",)
# Operations that call the OpenAI API.
_UPSTREAM = ("/v1/jobs",)


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The errors this operation can answer, from what it is."""
    statuses = {422}  # any request line may be refused (service.limits.ControlCharacterGuard)
    if path != "/healthz":  # everything else reads the database
        statuses.add(503)
    if operation.get("security"):
        statuses |= {401, 403}
    if "{" in path or path.startswith(_VERSION_LOOKUPS):
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413}
    if method in _WRITES and not (method == "post" and path.startswith(_COMPUTE_ONLY)):
        statuses.add(409)
    if method != "get" and path.startswith(_UPSTREAM) and path != "/v1/jobs/preview":
        statuses.add(502)
    return statuses


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or _DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM: {"schema": PROBLEM_REF}},
    }


def _refuse_control_characters(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not ({"pattern", "enum", "const"} & schema.keys()):
        schema["pattern"] = NO_CONTROL_CHARACTERS
    for alternative in schema.get("anyOf", ()):
        _refuse_control_characters(alternative)


def declare_errors(schema: dict[str, Any]) -> None:
    """Declares each operation's errors as problems, in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = _PROBLEM_SCHEMA
    components["ProblemItem"] = _PROBLEM_ITEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") in ("path", "query"):
                    _refuse_control_characters(parameter.get("schema", {}))
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in error_statuses(path, method, operation):
                responses.setdefault(str(status), {})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    description = None if code == "422" else response.get("description")
                    responses[code] = problem_response(int(code), description)
            operation["responses"] = dict(sorted(responses.items()))
    # FastAPI's validation error schemas: nothing refers to them any more.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)


def install_openapi(app: FastAPI) -> None:
    """Replaces app.openapi (FastAPI's documented way to customise the document)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            declare_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
