"""REST for the end of fine-tuning: the inventory, the scenarios of a model, CSV for finance."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import ValidationError

from service.deps import ReadKey, SessionDep, SettingsDep
from service.errors import InvalidInput
from service.planning import export, service
from service.planning.inventory import build_inventory
from service.planning.schemas import RECOMMENDED, InventoryOut, PlanIn, PlanOut, Tier
from service.planning.traffic import DEFAULT_DAYS, MAX_DAYS
from service.usage.names import default_org

router = APIRouter(tags=["planning"])


def planning_now() -> datetime:
    """The clock of the planning routes (tests override it)."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(planning_now)]
Org = Annotated[str | None, Query(max_length=100, description="default: the configured org")]
Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="traffic window in days")]
AskOpenAI = Annotated[
    bool, Query(description="read OpenAI's model and job lists (when an API key is set)")
]
Models = Annotated[
    list[str] | None,
    Query(alias="model", description="a replacement to price; repeat for several"),
]


@router.get(
    "/v1/planning/fine-tuned-models",
    response_model=InventoryOut,
    summary="Every fine-tuned model of the organisation, by days left before its base shuts down",
)
def list_fine_tuned(
    session: SessionDep,
    settings: SettingsDep,
    _: ReadKey,
    now: NowDep,
    org: Org = None,
    days: Days = DEFAULT_DAYS,
    openai: AskOpenAI = True,
) -> InventoryOut:
    inventory = build_inventory(
        session,
        org=org or default_org(settings),
        now=now,
        days=days,
        settings=settings,
        ask_openai=openai,
    )
    return service.inventory_out(session, inventory)


def _plan_in(
    *,
    models: list[str] | None,
    common: dict[str, object],
    recommended: bool,
    volume: Mapping[str, object] | None,
    days: int,
) -> PlanIn:
    try:
        return PlanIn.model_validate(
            {
                "scenarios": [{"model": m, **common} for m in models or [RECOMMENDED]],
                "include_recommended": recommended,
                "volume": volume,
                "days": days,
            }
        )
    except ValidationError as exc:
        raise InvalidInput(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
            code="bad_scenario",
        ) from None


def plan_from_query(
    models: Models = None,
    added_prompt_tokens: Annotated[
        int | None, Query(ge=0, le=10_000_000, description="prompt tokens put back per request")
    ] = None,
    prompt_cut_pct: Annotated[
        Decimal | None, Query(ge=0, lt=100, description="the prompt was cut by this % (90)")
    ] = None,
    completion_tokens: Annotated[
        int | None, Query(ge=0, le=10_000_000, description="completion length (default: today's)")
    ] = None,
    tier: Annotated[Tier, Query()] = "standard",
    recommended: Annotated[bool, Query(description="add OpenAI's recommended replacement")] = True,
    requests_per_day: Annotated[
        Decimal | None, Query(ge=0, le=10**12, description="a volume instead of observed traffic")
    ] = None,
    prompt_tokens: Annotated[Decimal | None, Query(ge=0, le=10_000_000)] = None,
    volume_completion_tokens: Annotated[Decimal | None, Query(ge=0, le=10_000_000)] = None,
    days: Days = DEFAULT_DAYS,
) -> PlanIn:
    volume = None
    if requests_per_day is not None:
        volume = {
            "requests_per_day": requests_per_day,
            "prompt_tokens": prompt_tokens or 0,
            "completion_tokens": volume_completion_tokens or 0,
        }
    common: dict[str, object] = {"tier": tier}
    for key, value in (
        ("added_prompt_tokens", added_prompt_tokens),
        ("prompt_cut_pct", prompt_cut_pct),
        ("completion_tokens", completion_tokens),
    ):
        if value is not None:
            common[key] = value
    return _plan_in(models=models, common=common, recommended=recommended, volume=volume, days=days)


PlanQuery = Annotated[PlanIn, Depends(plan_from_query)]


@router.get(
    "/v1/planning/fine-tuned-models/{name}/scenarios",
    response_model=PlanOut,
    summary="Migration scenarios of one fine-tuned model, from query parameters",
)
def scenarios_get(
    name: str,
    request: PlanQuery,
    session: SessionDep,
    settings: SettingsDep,
    _: ReadKey,
    now: NowDep,
    org: Org = None,
) -> PlanOut:
    return service.plan(
        session,
        name=name,
        request=request,
        org=org or default_org(settings),
        now=now,
        settings=settings,
    )


@router.post(
    "/v1/planning/fine-tuned-models/{name}/scenarios",
    response_model=PlanOut,
    summary="Migration scenarios of one fine-tuned model, each scenario with its own settings",
)
def scenarios_post(
    name: str,
    request: PlanIn,
    session: SessionDep,
    settings: SettingsDep,
    _: ReadKey,
    now: NowDep,
    org: Org = None,
) -> PlanOut:
    return service.plan(
        session,
        name=name,
        request=request,
        org=org or default_org(settings),
        now=now,
        settings=settings,
    )


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/v1/planning/fine-tuned-models/{name}/scenarios.csv",
    summary="Migration scenarios of one fine-tuned model as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def scenarios_csv(
    name: str,
    request: PlanQuery,
    session: SessionDep,
    settings: SettingsDep,
    _: ReadKey,
    now: NowDep,
    org: Org = None,
) -> Response:
    plan = service.plan(
        session,
        name=name,
        request=request,
        org=org or default_org(settings),
        now=now,
        settings=settings,
    )
    return _csv(export.plans_csv([plan]), f"migration-{now.date().isoformat()}.csv")


@router.get(
    "/v1/planning/scenarios.csv",
    summary="Migration scenarios of every fine-tuned model as CSV, for finance",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def all_scenarios_csv(
    request: PlanQuery,
    session: SessionDep,
    settings: SettingsDep,
    _: ReadKey,
    now: NowDep,
    org: Org = None,
    openai: AskOpenAI = True,
) -> Response:
    org = org or default_org(settings)
    plans = service.plan_all(
        session, request=request, org=org, now=now, settings=settings, ask_openai=openai
    )
    return _csv(export.plans_csv(plans), f"migration-all-{now.date().isoformat()}.csv")
