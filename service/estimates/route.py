"""The route class of the two JSON estimate endpoints, the busiest of the service.

FastAPI's request handler is general (any parameters, dependency graphs, response models,
streaming), and for these endpoints that generality was about a fifth of their cost in the
process (258 -> 210 us per request, measured in-process). This class keeps everything FastAPI
derives from the endpoint's signature (the OpenAPI operation, the body schema, the bearer
security scheme) and replaces only the run-time handler with one specialised to their single
signature: a JSON body model and the recorder.

Its responses are FastAPI's (the route tests hold the two handlers to the same answers), with
one deliberate difference: the key is checked before the body is parsed, so a request without a
valid key is 401 even when its body is not JSON.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from service.deps import authenticate_afresh, bearer_credentials
from service.estimates.recording import SCOPE, get_recorder


class EstimateRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        body_name, model, recorder_name = _signature(self.dependant, endpoint)

        async def handle(request: Request) -> Response:
            recorder = await get_recorder(request, await bearer_credentials(request))
            try:
                body = parse_body(model, request.headers.get("content-type"), await request.body())
            except RequestValidationError:
                # The key may have come from the cache and been revoked since on another
                # replica: a revoked key gets 401, whatever its body (a valid body would be
                # refused when its row is stored).
                await authenticate_afresh(request, recorder.caller.secret, scope=SCOPE)
                raise
            response: Response = await endpoint(**{body_name: body, recorder_name: recorder})
            return response

        return handle


def _signature(
    dependant: Dependant, endpoint: Callable[..., Any]
) -> tuple[str, type[BaseModel], str]:
    """(body parameter, its model, recorder parameter); TypeError for any other signature, so an
    endpoint that grows a parameter cannot have it silently ignored."""
    others = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
    )
    ok = (
        inspect.iscoroutinefunction(endpoint)
        and not any(others)
        and len(dependant.body_params) == 1
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
        " RecorderDep)` only; use a plain route for anything else"
    )


def parse_body(model: type[BaseModel], content_type: str | None, raw: bytes) -> BaseModel:
    """The body as FastAPI would parse it: JSON only when the content type says so, errors
    located under `body`."""
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    data: Any = raw
    if _is_json(content_type):
        try:
            data = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError, or bytes in no Unicode encoding
            position = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", position),
                        "msg": "JSON decode error",
                        "input": {},
                    }
                ]
            ) from exc
    try:
        return model.model_validate(data, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from exc


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))
