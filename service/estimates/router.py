from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.responses import StreamingResponse

from service.db import ConnectionGate
from service.deps import (
    BearerDep,
    EngineDep,
    EstimateKey,
    OwnReadKey,
    SessionDep,
    SettingsDep,
    key_first_route,
    keyed_read,
    read_connection,
)
from service.errors import InvalidInput, PayloadTooLarge
from service.estimates import reads, service
from service.estimates.schemas import (
    EstimatePage,
    EstimateSummary,
    InferenceEstimateOut,
    InferenceRequest,
    TrainingEstimateOut,
    TrainingRequest,
)
from service.settings import Settings
from service.types import IsoDate

log = logging.getLogger(__name__)
router = APIRouter(tags=["estimates"])
CHUNK = 1024 * 1024
UPLOAD_PATH = "/v1/estimates/training/file"
# What a multipart upload may carry besides the file (boundaries, part headers, form fields).
MULTIPART_ALLOWANCE = 1024 * 1024


def training(body: TrainingRequest, session: SessionDep, principal: EstimateKey) -> dict[str, Any]:
    return service.create_training_estimate(session, request=body, requested_by=principal.name)


def inference(
    body: InferenceRequest, session: SessionDep, principal: EstimateKey
) -> dict[str, Any]:
    return service.create_inference_estimate(session, request=body, requested_by=principal.name)


# A request without a valid key is 401 whatever its body, even one that is not JSON.
router.add_api_route(
    "/v1/estimates/training",
    training,
    methods=["POST"],
    route_class_override=key_first_route("estimate"),
    response_model=TrainingEstimateOut,
    status_code=201,
    summary="Training cost from a token count or per-example token lengths",
)
router.add_api_route(
    "/v1/estimates/inference",
    inference,
    methods=["POST"],
    route_class_override=key_first_route("estimate"),
    response_model=InferenceEstimateOut,
    status_code=201,
    summary="Inference cost per request/day/month, scenarios side by side, break-even",
)


def spool_upload(upload: UploadFile, settings: Settings) -> Path:
    """Copy an upload to a named file (workers reopen it by path)."""
    folder = settings.upload_dir or Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="ratecard-upload-", suffix=".jsonl", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(upload.file, out, CHUNK)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _checked_size(upload: UploadFile, settings: Settings) -> None:
    file = upload.file
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    if size > settings.max_upload_bytes:
        raise PayloadTooLarge(f"training files are limited to {settings.max_upload_bytes:,} bytes")
    if size == 0:
        raise InvalidInput("the uploaded training file is empty")


@contextmanager
def upload_path(upload: UploadFile, settings: Settings) -> Iterator[Path]:
    """A path to the uploaded bytes, which the tokenizer's worker processes open by name.

    Starlette has already written the upload to a temporary file of its own (or holds a small
    one in memory). Where the system names a process's open files (Linux's /proc/PID/fd), the
    workers read that very file, so a gigabyte is written to disk once; elsewhere it is copied
    to a named file.
    """
    _checked_size(upload, settings)
    file = upload.file
    try:
        descriptor = file.fileno()  # a file held in memory is written out now, once
        file.flush()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        descriptor = None
    if descriptor is not None:
        own = Path(f"/proc/{os.getpid()}/fd/{descriptor}")
        if own.exists():
            yield own
            return
    path = spool_upload(upload, settings)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def training_file(
    session: SessionDep,
    settings: SettingsDep,
    principal: EstimateKey,
    file: Annotated[
        UploadFile, File(description="JSONL training file, chat or prompt/completion format")
    ],
    model: Annotated[str, Form(min_length=1, max_length=200)],
    n_epochs: Annotated[str, Form(pattern=r"^(auto|[1-9]|[1-4][0-9]|50)$")] = "auto",
    as_of: Annotated[IsoDate | None, Form()] = None,
    method: Annotated[
        Literal["supervised", "preference", "reinforcement"],
        Form(description="fine-tuning method; reinforcement is priced per hour, not from a file"),
    ] = "supervised",
) -> dict[str, Any]:
    if method == "reinforcement":  # refused before the upload is spooled or read
        service.refuse_reinforcement_file()
    with upload_path(file, settings) as path:
        epochs: int | Literal["auto"] = "auto" if n_epochs == "auto" else int(n_epochs)
        return service.create_file_estimate(
            session,
            path=path,
            filename=file.filename or "upload.jsonl",
            model=model,
            n_epochs=epochs,
            as_of=as_of,
            requested_by=principal.name,
            method=method,
        )


router.add_api_route(
    UPLOAD_PATH,
    training_file,
    methods=["POST"],
    # The key before the upload: no spooling a gigabyte for an anonymous client.
    route_class_override=key_first_route("estimate"),
    response_model=TrainingEstimateOut,
    status_code=201,
    summary="Training cost of a JSONL training file (multipart upload, up to 1 GB)",
    responses={
        422: {"description": "format errors, each kind with line numbers"},
        413: {"description": "file too large"},
    },
)


Kind = Literal["training", "inference"]
JSON = "application/json"


@router.get("/v1/estimates", response_model=EstimatePage, summary="Stored estimates, newest first")
def list_estimates(
    request: Request,
    credentials: BearerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    kind: Kind | None = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    requested_by: Annotated[str | None, Query(max_length=100)] = None,
    created_from: IsoDate | None = None,
    created_to: IsoDate | None = None,
) -> Response:
    with read_connection(request, credentials) as connection:
        page = reads.estimates_page_json(
            connection,
            limit=limit,
            cursor=cursor,
            kind=kind,
            model=model,
            requested_by=requested_by,
            created_from=created_from,
            created_to=created_to,
        )
    return Response(page, media_type=JSON)


@router.get(
    "/v1/estimates.csv",
    summary="Stored estimates as CSV for finance",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def estimates_csv(
    request: Request,
    engine: EngineDep,
    _: OwnReadKey,
    kind: Kind | None = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    requested_by: Annotated[str | None, Query(max_length=100)] = None,
    created_from: IsoDate | None = None,
    created_to: IsoDate | None = None,
) -> StreamingResponse:
    def chunks() -> Generator[str]:
        # Its own connection: the request's session is committed and closed before the body
        # streams.
        with engine.connect() as connection:
            yield from reads.estimates_csv(
                connection,
                kind=kind,
                model=model,
                requested_by=requested_by,
                created_from=created_from,
                created_to=created_to,
            )

    return StreamingResponse(
        gated(chunks(), request.app.state.connection_gate),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="estimates.csv"'},
    )


async def gated(chunks: Generator[str], gate: ConnectionGate) -> AsyncIterator[str]:
    """A sync stream that holds a connection across threadpool calls, inside the gate."""
    async with gate:
        try:
            async for chunk in iterate_in_threadpool(chunks):
                yield chunk
        finally:
            await run_in_threadpool(chunks.close)  # a client gone mid-stream: release it


@router.get(
    "/v1/estimates/{estimate_id}", response_model=EstimateSummary, summary="One stored estimate"
)
def get_estimate(estimate_id: str, request: Request, credentials: BearerDep) -> Response:
    # The key is checked in this same worker-thread call (the id needs no validation that could
    # come first), by the read's own statement: one thread hop and one query per request.
    row = keyed_read(request, credentials, partial(reads.estimate_for_key, estimate_id=estimate_id))
    return Response(reads.estimate_json(row, estimate_id=estimate_id), media_type=JSON)
