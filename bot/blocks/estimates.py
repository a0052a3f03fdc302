"""Training and inference estimates."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot.blocks.base import (
    MAX_WARNINGS,
    Block,
    Message,
    context,
    count,
    esc,
    exact,
    fields,
    header,
    message,
    section,
    usd,
)
from service.estimates.schemas import InferenceEstimateOut, TrainingEstimateOut


def training_estimate(est: TrainingEstimateOut, *, source: str | None = None) -> Message:
    epochs = f"{est.n_epochs}" + (" (auto)" if est.epochs_auto else "")
    model = (
        est.model
        if est.requested_model == est.model
        else f"{est.model} (from {est.requested_model})"
    )
    pairs = [
        ("Cost", usd(est.cost_usd)),
        ("Epochs", epochs),
        ("Billing tokens / epoch", count(est.billing_tokens)),
        ("Charged tokens", count(est.charged_tokens)),
        ("Training price", f"{usd(est.usd_per_1m_training_tokens)} / 1M tokens"),
    ]
    if est.n_examples is not None:
        pairs.append(("Examples", count(est.n_examples)))
    blocks = [
        header(f"Training estimate: {usd(est.cost_usd)}"),
        section(f"*{esc(model)}*" + (f"\n{esc(source)}" if source else "")),
        fields(pairs),
    ]
    dataset = est.dataset or {}
    if dataset.get("truncated_examples"):
        blocks.append(
            section(
                f":scissors: {dataset['truncated_examples']:,} example(s) exceed the model's "
                "limit and will be truncated; their extra tokens are not billed."
            )
        )
    for warning in est.warnings[:MAX_WARNINGS]:
        blocks.append(context(f":warning: {esc(warning)}"))
    blocks.append(
        context(
            f"Exact: {exact(est.cost_usd)} · prices {esc(est.price_version)} as of "
            f"{est.as_of.isoformat()} ({esc(est.price_source)}) · {est.id}"
        )
    )
    fallback = (
        f"Training {est.model}: {usd(est.cost_usd)} ({est.charged_tokens:,} charged tokens, "
        f"{est.n_epochs} epochs)"
    )
    return message(fallback, blocks, response_type="in_channel")


def _per_thousand(per_request: str) -> str:
    try:
        return usd(Decimal(per_request) * 1000)
    except InvalidOperation:
        return "—"


def inference_estimate(est: InferenceEstimateOut) -> Message:
    first = est.scenarios[0]
    blocks: list[Block] = [
        header(f"Inference: {first.requests_per_day:,} requests/day"),
        context(
            f"{first.prompt_tokens:,} prompt + {first.completion_tokens:,} completion tokens "
            f"per request · 30-day month"
        ),
    ]
    cheapest = min(est.scenarios, key=lambda s: Decimal(s.cost_per_month_usd))
    shown: set[str] = set()
    for s in est.scenarios:
        title = f"*{esc(s.name)}*" + (f" · {esc(s.model)}" if s.name != s.model else "")
        if len(est.scenarios) > 1 and s is cheapest:
            title += "  :white_check_mark: cheapest"
        if (s.prompt_tokens, s.completion_tokens) != (first.prompt_tokens, first.completion_tokens):
            title += f"\n{s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion tokens"
        blocks.append(section(title))
        # Shutdown notices of the scenario's model (the service sends them when it knows any).
        for warning in list(getattr(s, "warnings", None) or [])[:MAX_WARNINGS]:
            shown.add(warning)
            blocks.append(context(f":warning: {esc(warning)}"))
        blocks.append(
            fields(
                [
                    ("Per month", usd(s.cost_per_month_usd)),
                    ("Per day", usd(s.cost_per_day_usd)),
                    ("Per 1,000 requests", _per_thousand(s.cost_per_request_usd)),
                ]
            )
        )
    for warning in [w for w in getattr(est, "warnings", None) or [] if w not in shown][
        :MAX_WARNINGS
    ]:
        blocks.append(context(f":warning: {esc(warning)}"))
    if est.training:
        blocks.append(
            section(
                f"*Training* the fine-tuned model: {usd(est.training.get('cost_usd'))} "
                f"({est.training.get('charged_tokens', 0):,} charged tokens)"
            )
        )
    for warning in est.warnings[:5]:  # lifecycle and long context, as the REST answer says
        blocks.append(context(f":warning: {esc(warning)}"))
    for b in est.break_even:
        if b.never:
            line = (
                f":no_entry_sign: Against *{esc(b.against)}* the fine-tuned model "
                "never pays for its training"
            )
        else:
            days = f" (about {b.days} days)" if b.days is not None else ""
            line = (
                f":chart_with_upwards_trend: Against *{esc(b.against)}* training pays for "
                f"itself after *{count(b.requests)} requests*{days}, saving "
                f"{_per_thousand(b.saving_per_request_usd)} per 1,000 requests"
            )
        blocks.append(section(line))
    blocks.append(
        context(
            f"Prices {esc(est.price_version)} as of {est.as_of.isoformat()} · "
            + " · ".join(
                f"{esc(s.name)}: exact {exact(s.cost_per_request_usd)}/request, "
                f"{exact(s.cost_per_month_usd)}/month"
                for s in est.scenarios
            )
            + f" · {est.id}"
        )
    )
    fallback = "; ".join(f"{s.name}: {usd(s.cost_per_month_usd)}/month" for s in est.scenarios)
    return message(f"Inference estimate: {fallback}", blocks, response_type="in_channel")
