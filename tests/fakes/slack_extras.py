"""What the Slack bot needs from Slack beyond `tests.fakes.slack_api`: files and response_urls.

Wire protocol as Slack speaks it:
- ``/api/files.list`` (``channel``, ``user``, ``count``) and ``/api/files.info`` (``file``)
  (GET or POST) answer ``{"ok": true, "files": [...]}`` / ``{"ok": true, "file": {...}}`` with
  ``id``, ``name``, ``filetype``, ``size``, ``created``, ``user``, ``channels``, ``url_private`` and
  ``url_private_download``; a missing file is ``{"ok": false, "error": "file_not_found"}``.
- ``GET url_private_download`` streams the bytes with ``Authorization: Bearer <bot token>``; without
  the token Slack answers 200 with its HTML sign-in page, and so does this fake.
- ``POST /_responses/<key>`` is a response_url: JSON body, answer 200 ``ok``; an expired one answers
  404 ``expired_url`` (``state.expire(key)``), as Slack does after 30 minutes or 5 uses.

`create_fake_slack_with_extras(slack_state, extras)` serves both fakes on one loopback origin:
``files.*``, downloads and response_urls here, every other ``/api/<method>`` in the Slack fake.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.slack_api import FakeSlackState, create_fake_slack_app

__all__ = ["FakeSlackExtras", "SharedFile", "create_fake_slack_with_extras"]

_CHUNK = 256 * 1024
_SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"
)


@dataclass
class SharedFile:
    id: str
    name: str
    user: str
    channel: str
    content: bytes | Path
    created: int
    filetype: str = "text"

    @property
    def size(self) -> int:
        return self.content.stat().st_size if isinstance(self.content, Path) else len(self.content)


@dataclass
class FakeSlackExtras:
    token: str | None = None
    files: dict[str, SharedFile] = field(default_factory=dict)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    downloads: list[tuple[str, str | None]] = field(
        default_factory=list
    )  # (file id, token or None)
    _expired: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def share_file(
        self,
        *,
        name: str,
        content: bytes | Path,
        user: str,
        channel: str,
        created: int | None = None,
        filetype: str = "text",
    ) -> SharedFile:
        file_id = "F" + "".join(
            secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10)
        )
        with self._lock:
            shared = SharedFile(
                file_id, name, user, channel, content, created or int(time.time()), filetype
            )
            self.files[file_id] = shared
        return shared

    def response_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/_responses/{secrets.token_hex(8)}"

    def expire(self, url_or_key: str) -> None:
        with self._lock:
            self._expired.add(url_or_key.rstrip("/").rsplit("/", 1)[-1])

    def responses_to(self, url: str) -> list[dict[str, Any]]:
        key = url.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            return [body for k, body in self.responses if k == key]

    def all_responses(self) -> list[dict[str, Any]]:
        with self._lock:
            return [body for _, body in self.responses]


def _file_json(f: SharedFile, base: str) -> dict[str, Any]:
    url = f"{base}/_files/{f.id}/{f.name}"
    return {
        "id": f.id,
        "name": f.name,
        "title": f.name,
        "filetype": f.filetype,
        "size": f.size,
        "created": f.created,
        "timestamp": f.created,
        "user": f.user,
        "channels": [f.channel],
        "url_private": url,
        "url_private_download": f"{url}?download=1",
        "mode": "hosted",
    }


def _extras_app(extras: FakeSlackExtras) -> FastAPI:
    app = FastAPI(title="fake Slack extras", docs_url=None, redoc_url=None, openapi_url=None)

    def authorised(request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        token = (
            header[7:].strip() if header.lower().startswith("bearer ") else form.get("token", "")
        )
        return bool(token) and (extras.token is None or token == extras.token)

    async def form_of(request: Request) -> dict[str, str]:
        raw = await request.body()
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)) | dict(
            request.query_params
        )

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.api_route("/api/files.list", methods=["GET", "POST"])
    async def files_list(request: Request) -> JSONResponse:
        form = await form_of(request)
        if not authorised(request, form):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        with extras._lock:
            found = [
                f
                for f in extras.files.values()
                if form.get("channel") in (None, "", f.channel)
                and form.get("user") in (None, "", f.user)
            ]
        found.sort(key=lambda f: f.created, reverse=True)
        count = int(form.get("count") or 100)
        return JSONResponse(
            {
                "ok": True,
                "files": [_file_json(f, base(request)) for f in found[:count]],
                "paging": {"count": count, "total": len(found), "page": 1, "pages": 1},
            }
        )

    @app.api_route("/api/files.info", methods=["GET", "POST"])
    async def files_info(request: Request) -> JSONResponse:
        form = await form_of(request)
        if not authorised(request, form):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        with extras._lock:
            shared = extras.files.get(form.get("file", ""))
        if shared is None:
            return JSONResponse({"ok": False, "error": "file_not_found"})
        return JSONResponse({"ok": True, "file": _file_json(shared, base(request))})

    @app.get("/_files/{file_id}/{name}")
    async def download(file_id: str, name: str, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        with extras._lock:
            extras.downloads.append((file_id, token))
            shared = extras.files.get(file_id)
        if not token or (extras.token is not None and token != extras.token):
            return HTMLResponse(_SIGN_IN_PAGE)
        if shared is None:
            return PlainTextResponse("file not found", status_code=404)
        content = shared.content

        async def chunks() -> AsyncIterator[bytes]:
            if isinstance(content, bytes):
                yield content
                return
            with content.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk

        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={"Content-Length": str(shared.size)},
        )

    @app.post("/_responses/{key}")
    async def response_url(key: str, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        with extras._lock:
            if key in extras._expired:
                return PlainTextResponse("expired_url", status_code=404)
            extras.responses.append((key, body))
        return PlainTextResponse("ok")

    return app


def create_fake_slack_with_extras(slack_state: FakeSlackState, extras: FakeSlackExtras) -> ASGIApp:
    """One ASGI app: the extras' paths here, everything else in `tests.fakes.slack_api`."""
    slack = create_fake_slack_app(slack_state)
    more = _extras_app(extras)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        mine = path.startswith(("/api/files.", "/_files/", "/_responses/"))
        if scope["type"] == "lifespan":
            await slack(scope, receive, send)
            return
        await (more if mine else slack)(scope, receive, send)

    return app
