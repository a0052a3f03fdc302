"""The migration plan of a fine-tuned model: today's cost, the scenarios, one last fine-tune.

Inputs are gathered here (traffic, pools, prices, lifecycle); the arithmetic is
``pricing.migration``'s.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from pricing.errors import PricingError
from pricing.estimate import InferenceEstimate, Workload, estimate_inference, estimate_training
from pricing.migration import (
    Scenario,
    ScenarioInput,
    Traffic,
    last_fine_tune,
    price_scenario,
)
from pricing.money import format_usd
from service.errors import InvalidInput, NotFound
from service.planning.inventory import FineTunedModel, Inventory, build_inventory, find_model
from service.planning.schemas import (
    RECOMMENDED,
    CostOut,
    Countdown,
    FineTunedModelOut,
    InventoryOut,
    LastFineTuneOut,
    PlanIn,
    PlanOut,
    PoolFitOut,
    ScenarioIn,
    ScenarioOut,
    TrafficOut,
)
from service.planning.traffic import pool_state
from service.prices.service import Reference, load_reference
from service.settings import Settings

log = logging.getLogger(__name__)
_TWO = Decimal("0.01")


def inventory_out(session: Session, inventory: Inventory) -> InventoryOut:
    reference = load_reference(session)
    return InventoryOut(
        as_of=inventory.as_of,
        org=inventory.org,
        openai=inventory.openai,
        fine_tuning_closes=reference.lifecycle.fine_tuning_closes(inventory.as_of.date()),
        models=[model_out(reference, m, inventory.as_of) for m in inventory.models],
        unresolved=inventory.unresolved,
    )


def model_out(reference: Reference, m: FineTunedModel, now: datetime) -> FineTunedModelOut:
    verdict = reference.lifecycle.fine_tuning(
        m.resolved.model, method=m.method or "supervised", as_of=now.date()
    )
    traffic = None
    if m.traffic is not None:
        t = m.traffic.as_traffic()
        traffic = TrafficOut(
            source=t.source,
            days=m.traffic.days,
            requests=m.traffic.requests,
            requests_per_day=_dec(t.requests_per_day),
            avg_prompt_tokens=_dec(t.prompt_tokens),
            avg_completion_tokens=_dec(t.completion_tokens),
            peak_tokens_per_minute=t.peak_tokens_per_minute,
            last_seen=m.traffic.last_seen,
        )
    return FineTunedModelOut(
        model=m.name,
        base=m.base,
        family=m.resolved.family,
        method=m.method or "supervised",
        job_id=m.job_id,
        trained_tokens=m.trained_tokens,
        training_cost_usd=None if m.training_cost_usd is None else format_usd(m.training_cost_usd),
        training_cost_basis=m.training_cost_basis,
        sources=sorted(m.sources),
        countdown=Countdown(
            state=m.status.state,
            shutdown_date=m.status.shutdown_date,
            days_left=m.status.days_left,
            replacement=m.status.replacement,
            fine_tuning_last_day=verdict.last_day if verdict.accepted else None,
        ),
        traffic=traffic,
    )


def plan(
    session: Session,
    *,
    name: str,
    request: PlanIn,
    org: str,
    now: datetime,
    settings: Settings,
    inventory: Inventory | None = None,
) -> PlanOut:
    inventory = inventory or build_inventory(
        session, org=org, now=now, days=request.days, settings=settings
    )
    item = find_model(inventory, name)
    if item is None:
        raise NotFound(
            f"{name} is not one of the organisation's fine-tuned models (jobs, OpenAI's model "
            "list or usage); GET /v1/planning/fine-tuned-models lists them",
            code="unknown_fine_tuned_model",
        )
    return plan_for(session, item=item, request=request, now=now, settings=settings, org=org)


def plan_for(
    session: Session,
    *,
    item: FineTunedModel,
    request: PlanIn,
    org: str,
    now: datetime,
    settings: Settings,
) -> PlanOut:
    reference = load_reference(session)
    as_of = now.date()
    traffic = _traffic(item, request)
    today = estimate_inference(
        model=item.resolved,
        workload=Workload(
            prompt_tokens=math.ceil(traffic.prompt_tokens),
            completion_tokens=math.ceil(traffic.completion_tokens),
            requests_per_day=math.ceil(traffic.requests_per_day),
        ),
        book=reference.book,
        as_of=as_of,
        overrides=reference.overrides,
        name=item.name,
        lifecycle=reference.lifecycle,
    )
    wanted = _wanted(item, request)
    recommended = item.status.replacement
    scenarios: list[ScenarioOut] = []
    priced: list[Scenario] = []
    for wish in wanted:
        replacement = reference.catalogue.resolve(wish.model, as_of=as_of)
        pool = pool_state(
            session,
            org=org,
            family=replacement.family,
            now=now,
            days=request.days,
            settings=settings,
            moving_model=item.traffic.model if item.traffic else item.name,
        )
        result = price_scenario(
            today=today,
            traffic=traffic,
            scenario=ScenarioInput(
                model=wish.model,
                added_prompt_tokens=wish.added_prompt_tokens,
                prompt_cut=None if wish.prompt_cut_pct is None else wish.prompt_cut_pct / 100,
                completion_tokens=wish.completion_tokens,
                tier=wish.tier,
            ),
            replacement=replacement,
            book=reference.book,
            as_of=as_of,
            tokens_per_minute_limit=pool.tokens_per_minute_limit,
            existing_peak_tokens_per_minute=pool.existing_peak_tokens_per_minute,
            overrides=reference.overrides,
            lifecycle=reference.lifecycle,
        )
        priced.append(result)
        scenarios.append(
            ScenarioOut(
                name=result.name,
                model=result.estimate.model,
                recommended=recommended is not None and wish.model.lower() == recommended.lower(),
                added_prompt_tokens=result.added_prompt_tokens,
                cost=_cost(result.estimate),
                change_per_month_usd=format_usd(result.change_per_month_usd),
                change_percent=None
                if result.change_percent is None
                else str(result.change_percent),
                pool=PoolFitOut(
                    family=result.pool.family,
                    tokens_per_minute_limit=result.pool.tokens_per_minute_limit,
                    limit_source=pool.limit_source,
                    existing_peak_tokens_per_minute=result.pool.existing_peak_tokens_per_minute,
                    migrated_peak_tokens_per_minute=result.pool.migrated_peak_tokens_per_minute,
                    peak_tokens_per_minute=result.pool.peak_tokens_per_minute,
                    headroom_tokens_per_minute=result.pool.headroom_tokens_per_minute,
                    fits=result.pool.fits,
                ),
                warnings=list(result.warnings),
            )
        )
    return PlanOut(
        as_of=now,
        model=model_out(reference, item, now),
        today=_cost(today),
        scenarios=scenarios,
        last_fine_tune=_last_fine_tune(reference, item, request, today, priced, now),
    )


def _wanted(item: FineTunedModel, request: PlanIn) -> list[ScenarioIn]:
    """The scenarios asked for, `recommended` replaced by OpenAI's recommendation (once)."""
    recommended = item.status.replacement
    wanted: list[ScenarioIn] = []
    for wish in request.scenarios:
        if wish.model.lower() == RECOMMENDED:
            if recommended is None:
                if len(request.scenarios) > 1:
                    continue
                raise InvalidInput(
                    f"OpenAI names no replacement for {item.base}: name a model to move to",
                    code="no_scenarios",
                )
            wish = wish.model_copy(update={"model": recommended})
        if not any(w.model.lower() == wish.model.lower() and w.tier == wish.tier for w in wanted):
            wanted.append(wish)
    if (
        request.include_recommended
        and recommended
        and not any(s.model.lower() == recommended.lower() for s in wanted)
    ):
        template = wanted[0] if wanted else ScenarioIn(model=recommended)
        wanted.insert(0, template.model_copy(update={"model": recommended}))
    if not wanted:
        raise InvalidInput(
            f"OpenAI names no replacement for {item.base}: name a model to move to",
            code="no_scenarios",
        )
    return wanted


def plan_all(
    session: Session,
    *,
    request: PlanIn,
    org: str,
    now: datetime,
    settings: Settings,
    ask_openai: bool = True,
) -> list[PlanOut]:
    """The plan of every fine-tuned model; a model no scenario can be priced for is left out."""
    inventory = build_inventory(
        session, org=org, now=now, days=request.days, settings=settings, ask_openai=ask_openai
    )
    plans = []
    for item in inventory.models:
        try:
            plans.append(
                plan_for(session, item=item, request=request, org=org, now=now, settings=settings)
            )
        except (InvalidInput, PricingError) as exc:
            log.info("no plan for %s: %s", item.name, exc)
    return plans


def _traffic(item: FineTunedModel, request: PlanIn) -> Traffic:
    if request.volume is not None:
        v = request.volume
        return Traffic(
            requests_per_day=v.requests_per_day,
            prompt_tokens=v.prompt_tokens,
            completion_tokens=v.completion_tokens,
            peak_tokens_per_minute=v.peak_tokens_per_minute,
            source="given",
        )
    if item.traffic is not None:
        return item.traffic.as_traffic()
    return Traffic(Decimal(0), Decimal(0), Decimal(0), source="none")


def _last_fine_tune(
    reference: Reference,
    item: FineTunedModel,
    request: PlanIn,
    today: InferenceEstimate,
    priced: list[Scenario],
    now: datetime,
) -> LastFineTuneOut:
    as_of = now.date()
    method = item.method or "supervised"
    verdict = reference.lifecycle.fine_tuning(item.resolved.model, method=method, as_of=as_of)
    base = item.base
    if not verdict.accepted:
        return LastFineTuneOut(possible=False, reason=verdict.reason, base=base)
    tokens = request.last_fine_tune_tokens or item.trained_tokens
    if not tokens:
        return LastFineTuneOut(
            possible=True,
            reason="trained tokens unknown: give last_fine_tune_tokens to price it",
            base=base,
            last_day_to_launch=verdict.last_day,
        )
    shutdown = item.status.shutdown_date
    cheapest = min(priced, key=lambda s: s.estimate.cost_per_day_usd)
    try:
        training = estimate_training(
            model=reference.catalogue.resolve(base, as_of=as_of),
            book=reference.book,
            as_of=as_of,
            billing_tokens=tokens,
            n_epochs=1,  # trained tokens already count every epoch
            overrides=reference.overrides,
            method=method,
        )
    except PricingError as exc:
        return LastFineTuneOut(possible=True, reason=str(exc), base=base)
    if shutdown is None:
        return LastFineTuneOut(
            possible=True,
            reason="the base has no shutdown date: the fine-tune serves indefinitely",
            base=base,
            last_day_to_launch=verdict.last_day,
            trained_tokens=tokens,
            training_cost_usd=format_usd(training.cost_usd),
        )
    result = last_fine_tune(
        training=training,
        fine_tuned_today=today,
        cheapest_alternative=cheapest.estimate,
        shutdown_date=shutdown,
        as_of=as_of,
    )
    return LastFineTuneOut(
        possible=True,
        reason=f"{base} accepts {method} jobs until {verdict.last_day}",
        base=base,
        last_day_to_launch=verdict.last_day,
        trained_tokens=tokens,
        training_cost_usd=format_usd(training.cost_usd),
        serves_days=result.serves_days,
        shutdown_date=result.shutdown_date,
        against=cheapest.name,
        saving_per_day_usd=format_usd(result.saving_per_day_usd),
        net_saving_usd=format_usd(result.total_saving_usd),
        pays_for_itself=result.pays_for_itself,
    )


def _cost(e: InferenceEstimate) -> CostOut:
    return CostOut(
        price_version=e.price_version,
        tier=e.tier,
        prompt_tokens=e.workload.prompt_tokens,
        completion_tokens=e.workload.completion_tokens,
        requests_per_day=e.workload.requests_per_day,
        cost_per_request_usd=format_usd(e.cost_per_request_usd),
        cost_per_day_usd=format_usd(e.cost_per_day_usd),
        cost_per_month_usd=format_usd(e.cost_per_month_usd),
    )


def _dec(value: Decimal) -> str:
    return str(value.quantize(_TWO))
