"""The request size limit, on the ASGI wire: framing cases a test client cannot send."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI, Request

from service.limits import RequestSizeLimit
from service.problems import install_problem_handlers
from tests.service.asgi import call, http_scope

LIMIT = 4096


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/report")
    async def report() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(RequestSizeLimit, max_bytes=LIMIT, per_path={"/upload": 10 * LIMIT})
    return app


def _call(
    method: str,
    path: str,
    chunks: list[bytes],
    *,
    headers: list[tuple[bytes, bytes]],
    root_path: str = "",
) -> tuple[int, dict[str, Any]]:
    scope = http_scope(method, path, headers, root_path=root_path)
    status, body = asyncio.run(call(_app(), scope, chunks or [b""]))
    return status, json.loads(body)


def _length(n: int) -> tuple[bytes, bytes]:
    return (b"content-length", str(n).encode())


CHUNKED = (b"transfer-encoding", b"chunked")


def test_limits__a_declared_length_over_the_limit_is_413_before_reading():
    status, body = _call("POST", "/echo", [], headers=[_length(LIMIT + 1)])
    assert status == 413
    assert body["status"] == 413 and "4,096 bytes" in body["detail"]


def test_limits__a_chunked_body_is_cut_off_at_the_limit():
    assert _call("POST", "/echo", [b"x" * 1024] * 4, headers=[CHUNKED]) == (200, {"bytes": 4096})
    status, _ = _call("POST", "/echo", [b"x" * 1024] * 5, headers=[CHUNKED])
    assert status == 413


def test_limits__a_small_content_length_beside_chunked_framing_is_not_trusted():
    # h11 reads the chunked body whatever Content-Length says.
    status, _ = _call("POST", "/echo", [b"x" * 1024] * 5, headers=[_length(10), CHUNKED])
    assert status == 413


@pytest.mark.parametrize("root_path", ["", "/api"])
def test_limits__a_path_with_its_own_limit_keeps_it_behind_a_root_path(root_path):
    chunks = [b"x" * 1024] * 8
    status, body = _call(
        "POST", "/upload", chunks, headers=[_length(8 * 1024)], root_path=root_path
    )
    assert (status, body) == (200, {"bytes": 8 * 1024})
    status, _ = _call("POST", "/echo", chunks, headers=[_length(8 * 1024)], root_path=root_path)
    assert status == 413


def test_limits__a_body_nobody_reads_is_left_alone():
    status, body = _call("GET", "/report", [b"x" * 1024] * 8, headers=[CHUNKED])
    assert (status, body) == (200, {"ok": "yes"})


def test_limits__every_endpoint_with_a_body_uses_a_method_the_limit_counts(api):
    from service.limits import _BODILESS

    for path, operations in api.app.openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert method.upper() not in _BODILESS, (method, path)
