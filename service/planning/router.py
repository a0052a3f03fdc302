"""REST for the end of fine-tuning: the inventory, the scenarios of a model, CSV for finance."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from service.deps import ReadKey, SessionDep, SettingsDep
from service.errors import InvalidInput
from service.planning import export, service
from service.planning.inventory import build_inventory
from service.planning.schemas import RECOMMENDED, InventoryOut, PlanIn, PlanOut, Tier
from service.planning.traffic import DEFAULT_DAYS, MAX_DAYS
from service.settings import Settings
from service.usage.names import default_org

router = APIRouter(tags=["planning"])
Route = TypeVar("Route", bound=Callable[..., Any])


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


@dataclass(frozen=True)
class Planning:
    """What every planning route works with: a read key checked, the session, the settings,
    the planning clock and the organisation (the configured one unless the query names one)."""

    session: Session
    settings: Settings
    now: datetime
    org: str

    def inventory(self, *, days: int, ask_openai: bool) -> InventoryOut:
        inventory = build_inventory(
            self.session,
            org=self.org,
            now=self.now,
            days=days,
            settings=self.settings,
            ask_openai=ask_openai,
        )
        return service.inventory_out(self.session, inventory)

    def plan(self, name: str, request: PlanIn) -> PlanOut:
        return service.plan(
            self.session,
            name=name,
            request=request,
            org=self.org,
            now=self.now,
            settings=self.settings,
        )

    def plan_all(self, request: PlanIn, *, ask_openai: bool) -> list[PlanOut]:
        return service.plan_all(
            self.session,
            request=request,
            org=self.org,
            now=self.now,
            settings=self.settings,
            ask_openai=ask_openai,
        )

    def csv(self, plans: list[PlanOut], stem: str) -> Response:
        filename = f"{stem}-{self.now.date().isoformat()}.csv"
        return Response(
            export.plans_csv(plans),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def planning(
    session: SessionDep, settings: SettingsDep, _: ReadKey, now: NowDep, org: Org = None
) -> Planning:
    return Planning(session, settings, now, org or default_org(settings))


PlanningDep = Annotated[Planning, Depends(planning)]


# A route's own query parameters come before its dependencies' in the OpenAPI document; these
# are dependencies so that ``org`` (from PlanningDep, declared first) stays the first one.
def traffic_days(days: Days = DEFAULT_DAYS) -> int:
    return days


def ask_openai(openai: AskOpenAI = True) -> bool:
    return openai


DaysDep = Annotated[int, Depends(traffic_days)]
AskOpenAIDep = Annotated[bool, Depends(ask_openai)]


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


def csv_route(path: str, *, summary: str) -> Callable[[Route], Route]:
    return router.get(
        path,
        summary=summary,
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )


@router.get(
    "/v1/planning/fine-tuned-models",
    response_model=InventoryOut,
    summary="Every fine-tuned model of the organisation, by days left before its base shuts down",
)
def list_fine_tuned(planning: PlanningDep, days: DaysDep, openai: AskOpenAIDep) -> InventoryOut:
    return planning.inventory(days=days, ask_openai=openai)


@router.get(
    "/v1/planning/fine-tuned-models/{name}/scenarios",
    response_model=PlanOut,
    summary="Migration scenarios of one fine-tuned model, from query parameters",
)
def scenarios_get(name: str, planning: PlanningDep, request: PlanQuery) -> PlanOut:
    return planning.plan(name, request)


@router.post(
    "/v1/planning/fine-tuned-models/{name}/scenarios",
    response_model=PlanOut,
    summary="Migration scenarios of one fine-tuned model, each scenario with its own settings",
)
def scenarios_post(name: str, planning: PlanningDep, request: PlanIn) -> PlanOut:
    return planning.plan(name, request)


@csv_route(
    "/v1/planning/fine-tuned-models/{name}/scenarios.csv",
    summary="Migration scenarios of one fine-tuned model as CSV",
)
def scenarios_csv(name: str, planning: PlanningDep, request: PlanQuery) -> Response:
    return planning.csv([planning.plan(name, request)], "migration")


@csv_route(
    "/v1/planning/scenarios.csv",
    summary="Migration scenarios of every fine-tuned model as CSV, for finance",
)
def all_scenarios_csv(planning: PlanningDep, openai: AskOpenAIDep, request: PlanQuery) -> Response:
    return planning.csv(planning.plan_all(request, ask_openai=openai), "migration-all")
