"""The migration page: every fine-tuned model, its countdown and what moving it would cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from service.deps import SessionDep, SettingsDep
from service.planning.schemas import PlanIn, ScenarioIn
from service.planning.service import plan_all
from service.ui import sources
from service.ui.charts import Series, bar_chart
from service.ui.web import ReadSession, UiRoute, render

router = APIRouter(include_in_schema=False, route_class=UiRoute)  # under /ui


@router.get("/migration")
def migration(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ui: ReadSession,
    prompt_cut_pct: Annotated[Decimal, Query(ge=0, lt=100)] = Decimal(90),
    tier: Literal["standard", "batch", "flex"] = "standard",
    model: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    # OpenAI's recommended replacement always, plus one model the viewer names; the prompt comes
    # back by the cut fine-tuning let the team make (the launch post reports up to 90%).
    wanted = [ScenarioIn(model="recommended", prompt_cut_pct=prompt_cut_pct, tier=tier)]
    if model:
        wanted.append(ScenarioIn(model=model.strip(), prompt_cut_pct=prompt_cut_pct, tier=tier))
    plans = plan_all(
        session,
        request=PlanIn(scenarios=wanted, include_recommended=False),
        org=sources.default_org(settings),
        now=sources.current_time(),
        settings=settings,
        # The page must answer while OpenAI is slow or down: ratecard's own jobs and usage.
        ask_openai=False,
    )
    names = [p.model.model for p in plans]
    series = [Series("today", [Decimal(p.today.cost_per_month_usd) for p in plans])]
    for index, label in enumerate(["recommended", model or ""][: len(wanted)]):
        series.append(
            Series(
                label,
                [
                    Decimal(p.scenarios[index].cost.cost_per_month_usd)
                    if index < len(p.scenarios)
                    else Decimal(0)
                    for p in plans
                ],
            )
        )
    chart = bar_chart(
        title="Monthly cost today and after moving, USD",
        categories=names,
        series=series,
        unit=" USD",
        chart_id="migration-chart",
    )
    return render(
        request,
        "migration.html",
        session=ui,
        plans=plans,
        chart=chart,
        prompt_cut_pct=prompt_cut_pct,
        tier=tier,
        model=model or "",
    )
