"""The service's exception tree. One handler (service/problems.py) maps it to HTTP problems."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotAuthenticated(ServiceError):
    status, title = 401, "Not authenticated"


class Forbidden(ServiceError):
    status, title = 403, "Forbidden"


class NotFound(ServiceError):
    status, title = 404, "Not found"


class Conflict(ServiceError):
    status, title = 409, "Conflict"


class PayloadTooLarge(ServiceError):
    status, title = 413, "Payload too large"


class InvalidInput(ServiceError):
    status, title = 422, "Invalid input"


class UpstreamError(ServiceError):
    status, title = 502, "Upstream error"


class Unavailable(ServiceError):
    status, title = 503, "Service unavailable"
