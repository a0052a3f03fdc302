"""/plan: the organisation's fine-tuned models by days left, or one model's migration plan."""

from __future__ import annotations

from bot.blocks.plan import fine_tuned_list, migration_plan
from bot.flows.command import CommandFlow
from bot.flows.plumbing import BotContext, Responder
from bot.parsing.plan import PlanCommand, PlanList, PlanModel, parse_plan
from service.planning.schemas import RECOMMENDED, PlanIn, ScenarioIn, VolumeIn


def plan_request(parsed: PlanModel) -> PlanIn:
    """The REST body of a /plan: every named model (OpenAI's recommendation first) alike."""
    scenarios = [
        ScenarioIn(
            model=model,
            added_prompt_tokens=parsed.added_prompt_tokens,
            prompt_cut_pct=parsed.prompt_cut_pct,
            completion_tokens=parsed.completion_tokens,
            tier=parsed.tier,
        )
        for model in (RECOMMENDED, *parsed.to)
    ]
    volume = None
    if parsed.volume is not None:
        volume = VolumeIn(
            requests_per_day=parsed.volume.requests_per_day,
            prompt_tokens=parsed.volume.prompt_tokens,
            completion_tokens=parsed.volume.completion_tokens,
        )
    return PlanIn(scenarios=scenarios, volume=volume, days=parsed.days or 7)


async def run_plan(parsed: PlanCommand, reply: Responder, ctx: BotContext) -> None:
    if isinstance(parsed, PlanList):
        await reply.send(fine_tuned_list(await ctx.service.fine_tuned_models(days=parsed.days)))
        return
    if not isinstance(parsed, PlanModel):
        raise TypeError(f"not a /plan request: {parsed!r}")  # Help is answered in the ack
    await reply.send(
        migration_plan(await ctx.service.migration_plan(parsed.model, plan_request(parsed)))
    )


def _working(parsed: PlanCommand) -> str | None:
    if isinstance(parsed, PlanModel):
        return f"Pricing the move of {parsed.model}…"
    return "Gathering the fine-tuned models…"


PLAN = CommandFlow("/plan", parse_plan, run_plan, _working)
