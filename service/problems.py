"""The one place errors become HTTP: RFC 9457 problem responses, never a stack trace."""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any, TypeGuard

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, compile_path

from pricing import errors as pe
from service.errors import ServiceError
from service.messages import plain_errors
from service.observability.request_id import HEADER, current_request_id

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"

_PRICING_STATUS: list[tuple[type[pe.PricingError], int, str]] = [
    (pe.UnknownModelError, 422, "Unknown model"),
    (pe.ModelNotAvailableError, 422, "Model not available on that date"),
    (pe.NotFineTunableError, 422, "Model cannot be fine-tuned"),
    (pe.UnknownPriceError, 422, "Price unknown"),
    (pe.UnknownPriceVersionError, 404, "Unknown price version"),
    (pe.PriceVersionConflictError, 409, "Price version is immutable"),
    (pe.CatalogueConflictError, 409, "Catalogue entry already published"),
    (pe.InvalidCatalogueEntryError, 422, "Invalid catalogue entry"),
    (pe.InvalidPriceTableError, 422, "Invalid price table"),
    (pe.InvalidEstimateInputError, 422, "Invalid estimate input"),
    (pe.DatasetError, 422, "Unreadable training file"),
    (pe.TokenizerIntegrityError, 503, "Tokenizer files failed verification"),
]


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    request_id = current_request_id()
    if request_id is not None:
        # Quoted in a support ticket, it finds the request's log lines.
        body["request_id"] = request_id
        headers[HEADER] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


def _pricing_extra(exc: pe.PricingError) -> dict[str, Any]:
    if isinstance(exc, pe.UnknownModelError):
        return {"model": exc.name, "suggestions": exc.suggestions}
    if isinstance(exc, pe.UnknownPriceError):
        return {
            "model": exc.model,
            "field": exc.field,
            "price_version": exc.version,
            "how_to_fix": f"PUT /v1/prices/overrides with model={exc.model} field={exc.field}",
        }
    return {}


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# PostgreSQL SQLSTATEs that say "try again": connection exceptions (08), insufficient resources
# (53), operator intervention such as a shutdown (57P), serialization failure and deadlock,
# lock not available.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57P")
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}
# SQLite's words for a database another writer holds or a file it cannot open right now.
_TRANSIENT_SQLITE = ("database is locked", "database table is locked", "unable to open database")


def is_transient(exc: Exception) -> bool:
    """A database error a retry may not meet: unreachable, restarting, busy, out of connections.
    Anything else (a missing table, bad SQL, a constraint) is a defect, answered 500."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(orig, psycopg.Error):
        if sqlstate is None:
            # No SQLSTATE: either the server never answered (refused, unreachable, dropped:
            # OperationalError) or the driver refused the data itself (a NUL in a string is a
            # DataError), which no retry cures.
            return isinstance(orig, psycopg.OperationalError)
        return sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES) or sqlstate in _TRANSIENT_SQLSTATES
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).startswith(_TRANSIENT_SQLITE)
    return False


def is_bad_data(exc: Exception) -> TypeGuard[DBAPIError]:
    """A value the database refused as data (SQLSTATE class 22, or psycopg's own refusal of a
    NUL), not a fault of the database or of our SQL."""
    if not isinstance(exc, DBAPIError) or not isinstance(exc.orig, psycopg.DataError):
        return False
    sqlstate = exc.orig.sqlstate
    return sqlstate is None or sqlstate.startswith("22")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods of the resource the request's path names.

    The most specific documented path wins: /v1/estimates/inference is its own resource (POST),
    though GET /v1/estimates/{estimate_id} would also route it. Undocumented paths (/docs) ask
    each route the way the router does.
    """
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    matching = [
        (template.count("{"), operations)
        for template, operations in app.openapi().get("paths", {}).items()
        if compile_path(template)[0].match(path)
    ]
    if matching:
        fewest = min(params for params, _ in matching)
        documented = {
            method.upper()
            for params, operations in matching
            if params == fewest
            for method in operations
        }
        return [method for method in _METHODS if method in documented]
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in app.routes
        )
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(pe.PricingError)
    async def _pricing_error(_: Request, exc: pe.PricingError) -> JSONResponse:
        for cls, status, title in _PRICING_STATUS:
            if isinstance(exc, cls):
                return problem(status, title, str(exc), **_pricing_extra(exc))
        return problem(422, "Pricing error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = plain_errors(exc.errors())
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem(422, "Invalid request", summary or "invalid request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, status_phrase(exc.status_code), str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route on the path only.
            response.headers["Allow"] = ", ".join(allowed_methods(app, request))
        return response

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if is_bad_data(exc):
            # Input the database cannot store (a NUL in a JSON string): the client's to fix.
            log.info("refused data on %s %s: %s", request.method, request.url.path, type(exc.orig))
            return problem(422, "Invalid input", "a value holds characters that cannot be stored")
        if not is_transient(exc):
            return await _unexpected(request, exc)
        # The request may succeed if retried: 503 with Retry-After, not 500. The driver's
        # message (which may name the host) is logged, not sent.
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(getattr(exc, "orig", exc)).__name__,
            exc_info=exc,
        )
        response = problem(503, "Database unavailable", "the database is unreachable or busy")
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged")
