"""The Files API: upload, list, retrieve and download (``/v1/files``).

Files live in memory. ``fine-tune`` uploads must be ``.jsonl``; their content is checked
only when a job validates them, as OpenAI does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from service.fakes.openai.core import StateCore, new_id
from service.fakes.openai.errors import (
    FakeOpenAIError,
    after_cursor,
    int_param,
    no_such_file,
)
from service.fakes.openai.records import FakeFile

__all__ = ["FilesMixin", "add_routes"]

_FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data"})
_CONTENT_CHUNK_BYTES = 64 * 1024
_FILE_LIST_MAX_LIMIT = 10_000


class FilesMixin(StateCore):
    def add_file(self, filename: str, content: bytes, purpose: str = "fine-tune") -> str:
        """Store a file as if uploaded; returns its id."""
        return str(self.create_file(filename=filename, purpose=purpose, content=content)["id"])

    def file(self, file_id: str) -> FakeFile:
        with self._lock:
            try:
                return self._files[file_id]
            except KeyError:
                raise no_such_file(file_id) from None

    def create_file(self, *, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        if purpose not in _FILE_PURPOSES:
            raise FakeOpenAIError(
                400,
                f"'{purpose}' is not one of {sorted(_FILE_PURPOSES)} - 'purpose'",
                param="purpose",
            )
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            raise FakeOpenAIError(
                400, "Invalid file format for Fine-Tuning API. Must be .jsonl", param="file"
            )
        with self._lock:
            file = FakeFile(
                id=new_id("file-", 22),
                filename=filename,
                purpose=purpose,
                content=content,
                created_at=int(self.clock()),
            )
            self._files[file.id] = file
            return file.to_api()

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        return self.file(file_id).to_api()

    def list_files(
        self,
        *,
        purpose: str | None = None,
        limit: int = _FILE_LIST_MAX_LIMIT,
        order: str = "desc",
        after: str | None = None,
    ) -> dict[str, Any]:
        if order not in ("asc", "desc"):
            raise FakeOpenAIError(400, f"Invalid order: {order}", param="order")
        if not 1 <= limit <= _FILE_LIST_MAX_LIMIT:
            raise FakeOpenAIError(400, "limit must be between 1 and 10000", param="limit")
        with self._lock:
            files = [f for f in self._files.values() if purpose is None or f.purpose == purpose]
            if order == "desc":
                files.reverse()
            files = after_cursor(files, after, lambda f: f.id, "file")
            page = files[:limit]
            data = [f.to_api() for f in page]
        return {
            "object": "list",
            "data": data,
            # The schema types these as strings (not nullable), so an empty page gets "".
            "first_id": data[0]["id"] if data else "",
            "last_id": data[-1]["id"] if data else "",
            "has_more": len(files) > limit,
        }

    def store_result_file(self, filename: str, content: bytes, created_at: int) -> str:
        """Store a file the fake itself produced (a job's results); returns its id."""
        with self._lock:
            file = FakeFile(
                id=new_id("file-", 22),
                filename=filename,
                purpose="fine-tune-results",
                content=content,
                created_at=created_at,
            )
            self._files[file.id] = file
            return file.id


def _files(request: Request) -> FilesMixin:
    state: FilesMixin = request.app.state.fake
    return state


async def upload_file(request: Request) -> dict[str, Any]:
    form = await request.form()
    upload, purpose = form.get("file"), form.get("purpose")
    if not isinstance(upload, UploadFile):
        raise FakeOpenAIError(400, "Missing required parameter: 'file'.", param="file")
    if not isinstance(purpose, str):
        raise FakeOpenAIError(400, "Missing required parameter: 'purpose'.", param="purpose")
    content = await upload.read()
    return _files(request).create_file(
        filename=upload.filename or "upload.jsonl", purpose=purpose, content=content
    )


async def list_files(request: Request) -> dict[str, Any]:
    query = request.query_params
    return _files(request).list_files(
        purpose=query.get("purpose"),
        limit=int_param(request, "limit", _FILE_LIST_MAX_LIMIT),
        order=query.get("order", "desc"),
        after=query.get("after"),
    )


async def retrieve_file(request: Request, file_id: str) -> dict[str, Any]:
    return _files(request).retrieve_file(file_id)


async def file_content(request: Request, file_id: str) -> Response:
    content = _files(request).file(file_id).content

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), _CONTENT_CHUNK_BYTES):
            yield content[start : start + _CONTENT_CHUNK_BYTES]

    # Content-Length lets the client detect a truncated stream.
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"content-length": str(len(content))},
    )


_ROUTES: tuple[tuple[str, str, Callable[..., Awaitable[Any]]], ...] = (
    ("POST", "/v1/files", upload_file),
    ("GET", "/v1/files", list_files),
    ("GET", "/v1/files/{file_id}", retrieve_file),
    ("GET", "/v1/files/{file_id}/content", file_content),
)


def add_routes(app: FastAPI) -> None:
    # Registered on the app itself (not an included APIRouter) so the transport middleware
    # can name each request by its route template.
    for method, path, endpoint in _ROUTES:
        app.add_api_route(path, endpoint, methods=[method])
