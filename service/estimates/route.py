"""The route class of the two JSON estimate endpoints, the busiest of the service.

FastAPI's request handler is general (any parameters, dependency graphs, response models,
streaming), and for these endpoints that generality was about a fifth of their cost in the
process (258 -> 210 us per request, measured in-process). This class keeps everything FastAPI
derives from the endpoint's signature (the OpenAPI operation, the body schema, the bearer
security scheme) and replaces only the run-time handler with one specialised to their single
signature: a JSON body model and the recorder.

Its responses are FastAPI's (the route tests hold the two handlers to the same answers for a range
of malformed bodies), with one deliberate difference: the key is checked before the body is
parsed, so a request without a valid key is 401 even when its body is not JSON. Where the
specialised handler would not do what FastAPI does (dependency overrides, a router included with
dependencies of its own), FastAPI's handler runs instead.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any

from fastapi import Request, Response
from fastapi import routing as fastapi_routing
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from service.deps import authenticate_afresh, bearer_credentials
from service.estimates.recording import SCOPE, get_recorder

# include_router rebuilds each route's handler with the including routers' dependencies in this
# context variable (a private name: if a FastAPI release drops it, every handler is FastAPI's).
_INCLUSION = getattr(fastapi_routing, "_effective_route_context_var", None)


class EstimateRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()
        if _INCLUSION is None or _INCLUSION.get() is not None:
            return general  # dependencies of an including router must run: FastAPI's handler
        endpoint = self.endpoint
        body_name, model, recorder_name = _signature(self)
        provider = self.dependency_overrides_provider

        async def handle(request: Request) -> Response:
            if getattr(provider, "dependency_overrides", None):  # a test replaced a dependency
                return await general(request)
            recorder = await get_recorder(request, await bearer_credentials(request))
            raw = await read_body(request)
            try:
                body = parse_body(model, request.headers.get("content-type"), raw)
            except (RequestValidationError, HTTPException):
                # The key may have come from the cache and been revoked since on another
                # replica: a revoked key gets 401, whatever its body (a valid body would be
                # refused when its row is stored).
                await authenticate_afresh(request, recorder.caller.secret, scope=SCOPE)
                raise
            response: Response = await endpoint(**{body_name: body, recorder_name: recorder})
            return response

        return handle


def _plain_required(field_info: Any) -> bool:
    # No embedding, validators or constraints beside the model's own (parse_body validates the
    # model alone), and no default for an empty body.
    return (
        not getattr(field_info, "embed", False)
        and not field_info.metadata
        and field_info.is_required()
    )


def _signature(route: APIRoute) -> tuple[str, type[BaseModel], str]:
    """(body parameter, its model, recorder parameter); TypeError for any other endpoint, so one
    that grows a parameter or an option cannot have it silently ignored."""
    dependant, endpoint = route.dependant, route.endpoint
    special = (
        dependant.request_param_name,
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    others = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
    )
    strict = route.strict_content_type
    returns = inspect.signature(endpoint, eval_str=True).return_annotation
    ok = (
        inspect.iscoroutinefunction(endpoint)
        and isinstance(returns, type)
        and issubclass(returns, Response)
        and not any(special)
        and not any(others)
        and (strict.value if isinstance(strict, DefaultPlaceholder) else strict) is True
        and len(dependant.body_params) == 1
        and _plain_required(dependant.body_params[0].field_info)
        and len(dependant.dependencies) == 1
        and dependant.dependencies[0].call is get_recorder
    )
    if ok:
        field = dependant.body_params[0]
        model = field.field_info.annotation
        recorder_name = dependant.dependencies[0].name
        if isinstance(model, type) and issubclass(model, BaseModel) and recorder_name:
            return field.name, model, recorder_name
    raise TypeError(
        f"{endpoint.__name__}: EstimateRoute serves `async def f(body: Model, recorder:"
        " RecorderDep) -> Response` only; use a plain route for anything else"
    )


async def read_body(request: Request) -> bytes:
    """The raw body; as FastAPI does, a read that fails (the client went away mid-body) is 400."""
    try:
        return await request.body()
    except HTTPException:
        raise  # the request size limit's 413
    except Exception as exc:
        raise HTTPException(400, "There was an error parsing the body") from exc


def parse_body(model: type[BaseModel], content_type: str | None, raw: bytes) -> BaseModel:
    """The body as FastAPI parses it: JSON only when the content type says so, errors located
    under `body`, 400 for a body JSON cannot even be read (too deeply nested)."""
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    data: Any = raw
    if content_type and _is_json(content_type):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", exc.pos),
                        "msg": "JSON decode error",
                        "input": {},
                    }
                ]
            ) from exc
        except Exception as exc:  # RecursionError, bytes in no Unicode encoding
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return model.model_validate(data, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from exc


@lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    # Parsed as FastAPI parses it (so `application/a/b+json` is not JSON), once per distinct value.
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")
