"""OpenAI's error object and the request-parsing and pagination rules every area shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse

__all__ = [
    "FakeOpenAIError",
    "after_cursor",
    "int_param",
    "no_such_file",
    "optional_str",
    "required_str",
]


class FakeOpenAIError(Exception):
    """An error the fake answers with, in OpenAI's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # OpenAI's field name
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def no_such_file(file_id: str) -> FakeOpenAIError:
    return FakeOpenAIError(404, f"No such File object: {file_id}", param="id")


_T = TypeVar("_T")


def after_cursor(
    items: list[_T], after: str | None, key: Callable[[_T], str], what: str
) -> list[_T]:
    """The items following the one whose id is ``after`` (OpenAI's cursor pagination)."""
    if after is None:
        return items
    for index, item in enumerate(items):
        if key(item) == after:
            return items[index + 1 :]
    raise FakeOpenAIError(400, f"No such {what}: {after}", param="after")


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise FakeOpenAIError(
            400, f"Invalid '{name}': expected an integer, got '{raw}'.", param=name
        ) from None


def required_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise FakeOpenAIError(
            400,
            f"Missing required parameter: '{name}'.",
            param=name,
            code="missing_required_parameter",
        )
    if not isinstance(value, str) or not value:
        raise FakeOpenAIError(400, f"Invalid type for '{name}': expected a string.", param=name)
    return value


def optional_str(body: Mapping[str, Any], name: str) -> str | None:
    if body.get(name) is None:
        return None
    return required_str(body, name)
