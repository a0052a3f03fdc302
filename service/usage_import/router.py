"""REST: run an import of OpenAI's Usage API now, and list the last runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from service.deps import AdminKey, ReadKey, SessionDep, SettingsDep
from service.usage.names import default_org
from service.usage.windows import from_ts
from service.usage_import.schemas import ImportRunOut, ImportStatusOut
from service.usage_import.service import NOT_CONFIGURED, last_runs, run_import
from service.usage_import.store import covered_until

router = APIRouter(tags=["usage"])


@router.post(
    "/v1/usage/imports",
    response_model=ImportRunOut,
    summary="Import OpenAI's Usage API now",
    description=(
        "Fetches completions usage grouped by model (minute buckets for the last 24 h, hour "
        "buckets before that) and returns the run's summary. Idempotent: buckets already "
        "imported are replaced, never added twice. OpenAI errors and a missing or refused "
        "admin key are reported in the run (`outcome`, `errors`), not as HTTP errors."
    ),
)
def import_now(request: Request, settings: SettingsDep, _: AdminKey) -> dict[str, Any]:
    return run_import(engine=request.app.state.engine, settings=settings, trigger="manual")


@router.get(
    "/v1/usage/imports",
    response_model=ImportStatusOut,
    summary="The last imports of OpenAI's Usage API",
)
def list_imports(
    session: SessionDep,
    settings: SettingsDep,
    _: ReadKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    configured = settings.openai_admin_key is not None
    org = default_org(settings)
    until = covered_until(session, org=org)
    return {
        "org": org,
        "configured": configured,
        "setup_error": None if configured else NOT_CONFIGURED,
        "interval_seconds": settings.usage_import_interval_seconds,
        "imported_through": None if until is None else from_ts(until),
        "runs": last_runs(session, org=org, limit=limit),
    }
