"""/plan replies: the fine-tuned models by days left, and one model's countdown beside its
migration scenarios. Pure: the service's answer in, Block Kit out."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot.blocks.base import (
    MAX_LINES_SHOWN,
    Block,
    Message,
    context,
    count,
    esc,
    fields,
    header,
    message,
    section,
    usd,
)
from service.planning.schemas import (
    Countdown,
    FineTunedModelOut,
    InventoryOut,
    LastFineTuneOut,
    PlanOut,
    ScenarioOut,
)

MAX_MODELS_LISTED = 20


def countdown_text(c: Countdown) -> str:
    """'38 days left (shuts down 2027-01-14)', 'shut down on …', 'no shutdown announced'."""
    if c.state == "shut_down":
        return f":red_circle: shut down on {c.shutdown_date}"
    if c.shutdown_date is None or c.days_left is None:
        return ":large_green_circle: no shutdown announced"
    emoji = ":red_circle:" if c.days_left <= 7 else ":large_orange_circle:"
    days = f"{c.days_left} day{'s' if c.days_left != 1 else ''}"
    return f"{emoji} {days} left (shuts down {c.shutdown_date})"


def _per_day(m: FineTunedModelOut) -> str:
    if m.traffic is None:
        return "no traffic seen"
    return f"{_number(m.traffic.requests_per_day)} requests/day"


def fine_tuned_list(inventory: InventoryOut) -> Message:
    models = inventory.models
    blocks: list[Block] = [header("Fine-tuned models by days left")]
    if inventory.fine_tuning_closes:
        blocks.append(
            context(
                f":hourglass: OpenAI accepts no new fine-tuning job from "
                f"{inventory.fine_tuning_closes}"
            )
        )
    if not models:
        blocks.append(section("No fine-tuned models found (jobs, OpenAI's model list, usage)."))
    for m in models[:MAX_MODELS_LISTED]:
        instead = f" → `{esc(m.countdown.replacement)}`" if m.countdown.replacement else ""
        blocks.append(
            section(
                f"*{esc(m.model)}*\n{countdown_text(m.countdown)}{instead}\n"
                f"{_per_day(m)} · base {esc(m.base)}"
            )
        )
    if len(models) > MAX_MODELS_LISTED:
        blocks.append(context(f"and {len(models) - MAX_MODELS_LISTED} more: see the REST API"))
    if inventory.openai not in ("read", "skipped"):
        blocks.append(context(f"OpenAI's model list: {esc(inventory.openai)}"))
    blocks.append(context("`/plan <ft:model>` for the cost of moving one"))
    lines = [
        f"{m.model}: {m.countdown.days_left if m.countdown.days_left is not None else '-'} days"
        for m in models[:MAX_LINES_SHOWN]
    ]
    fallback = f"{len(models)} fine-tuned model(s) by days left: " + "; ".join(lines)
    return message(fallback, blocks)


def _fit(s: ScenarioOut) -> str:
    p = s.pool
    peak = f"peak {count(p.peak_tokens_per_minute)}"
    if p.fits is None:
        return f":grey_question: {peak} TPM, limit unknown"
    limit = count(p.tokens_per_minute_limit)
    if p.fits:
        return f":white_check_mark: {peak} of {limit} TPM"
    return f":x: {peak} of {limit} TPM: over by {count(-(p.headroom_tokens_per_minute or 0))}"


def _change(s: ScenarioOut) -> str:
    sign = "" if s.change_per_month_usd.startswith("-") else "+"
    percent = f", {sign}{s.change_percent}%" if s.change_percent is not None else ""
    return f"{sign}{usd(s.change_per_month_usd)}{percent}"


def _scenario_block(s: ScenarioOut) -> Block:
    label = f"{esc(s.name)}" + (" (recommended)" if s.recommended else "")
    tier = "" if s.cost.tier == "standard" else f", {s.cost.tier}"
    return fields(
        [
            (f"{label}{tier}", f"{usd(s.cost.cost_per_month_usd)}/month ({_change(s)})"),
            ("Rate limit", _fit(s)),
            (
                "Per request",
                f"{usd(s.cost.cost_per_request_usd)} · {count(s.cost.prompt_tokens)} "
                f"prompt tokens (+{count(s.added_prompt_tokens)})",
            ),
        ]
    )


def _last_fine_tune(last: LastFineTuneOut | None) -> Block | None:
    if last is None:
        return None
    if last.pays_for_itself is None:
        return context(f"One last fine-tune: {esc(last.reason)}")
    verdict = "pays for itself" if last.pays_for_itself else "does not pay for itself"
    return section(
        f"*One last fine-tune* of {esc(last.base)} (launch by {last.last_day_to_launch}): "
        f"{usd(last.training_cost_usd)} to train, serves {last.serves_days} days, saves "
        f"{usd(last.saving_per_day_usd)}/day against {esc(last.against or '')}: {verdict} "
        f"(net {usd(last.net_saving_usd)})"
    )


def migration_plan(plan: PlanOut) -> Message:
    m = plan.model
    today = plan.today
    blocks: list[Block] = [
        header(f"What happens to {m.model}?"),
        section(f"{countdown_text(m.countdown)}\nbase {esc(m.base)}, {_per_day(m)}"),
        fields(
            [
                ("Today (fine-tuned)", f"{usd(today.cost_per_month_usd)}/month"),
                ("Per request", f"{usd(today.cost_per_request_usd)}"),
            ]
        ),
    ]
    blocks.extend(_scenario_block(s) for s in plan.scenarios)
    last = _last_fine_tune(plan.last_fine_tune)
    if last is not None:
        blocks.append(last)
    source = m.traffic.source if m.traffic else "none"
    blocks.append(
        context(
            f"prices {today.price_version} · traffic: {source}"
            f"{f' over {m.traffic.days} days' if m.traffic else ''} · month = 30 days"
        )
    )
    fallback = f"{m.model}: {countdown_text(m.countdown)}; today {usd(today.cost_per_month_usd)}"
    fallback += "/month; " + "; ".join(
        f"{s.name} {usd(s.cost.cost_per_month_usd)}/month" for s in plan.scenarios
    )
    return message(fallback, blocks)


def _number(text: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return esc(text)
    return f"{value.normalize():,f}" if value == value.to_integral_value() else f"{value:,.2f}"
