from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from pricing.errors import TokenizerIntegrityError
from pricing.tokens import verify_encodings

router = APIRouter(tags=["health"])


# async: a sync route waits for a free worker thread, and a liveness probe must not fail (and
# get the process restarted) because slow requests are holding all of them.
@router.get("/healthz", summary="Process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database reachable and tokenizer files verified",
    responses={503: {"description": "not ready; `checks` says why"}},
)
def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", reported without internals
        checks["database"] = f"unreachable ({type(exc).__name__})"
    try:
        verify_encodings()
        checks["tokenizers"] = "ok"
    except TokenizerIntegrityError as exc:
        checks["tokenizers"] = str(exc)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
