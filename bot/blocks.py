"""Block Kit messages, built by pure functions: data in, `{"text", "blocks"}` out.

Every message carries a plain-text fallback (`text`, what notifications and screen readers show).
Money is shown with 2 decimals through pricing.money.display_usd, the documented display rule;
the service's full-precision decimal string is kept in a context line beneath.
Layouts are one column of short sections so they read on a phone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.parsing import USAGE, Launch, UsageError
from pricing.money import display_usd
from service.client import (
    BudgetStatus,
    Job,
    JobPreview,
    ServiceClientError,
    Subscription,
)
from service.estimates.schemas import InferenceEstimateOut, TrainingEstimateOut

Message = dict[str, Any]
Block = dict[str, Any]

LAUNCH_ACTION = "launch_confirm"
CANCEL_ACTION = "launch_cancel"
MAX_SECTION_CHARS = 2900  # Slack refuses section text above 3000 characters
MAX_LINES_SHOWN = 8


def esc(text: object) -> str:
    """Escape user-supplied text for mrkdwn (Slack's three control characters)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def usd(amount: str | Decimal | None) -> str:
    """Money for people: 2 decimals ('$2.40'); '—' when the service did not know it."""
    if amount is None or amount == "":
        return "—"
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(amount)
    except InvalidOperation:
        return esc(amount)
    return display_usd(value)


def exact(amount: str | None) -> str:
    return "—" if amount is None else f"${amount}"


def _text(text: str) -> Block:
    return {"type": "mrkdwn", "text": text[:MAX_SECTION_CHARS]}


def section(text: str) -> Block:
    return {"type": "section", "text": _text(text)}


def fields(pairs: Sequence[tuple[str, str]]) -> Block:
    return {"type": "section", "fields": [_text(f"*{k}*\n{v}") for k, v in pairs[:10]]}


def context(*parts: str) -> Block:
    return {"type": "context", "elements": [_text(p) for p in parts if p][:10]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def message(fallback: str, blocks: Iterable[Block], **extra: Any) -> Message:
    return {"text": fallback, "blocks": list(blocks)[:50], **extra}


def mention(slack_id: str) -> str:
    """<@U..> for people, <#C..> for channels; a DM id reads as 'this DM'."""
    if slack_id[:1] in ("U", "W"):
        return f"<@{slack_id}>"
    if slack_id[:1] == "D":
        return "this DM"
    return f"<#{slack_id}>"


def _count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


# -- help and usage --------------------------------------------------------------------------------


def help_message(command: str) -> Message:
    lines = USAGE.get(command, [])
    intro = {
        "/estimate": "What will it cost? Training (tokens or a file), or inference side by side.",
        "/launch": "Start a fine-tuning job after seeing its estimate and your team's budget.",
        "/notify": "Get told when jobs finish or a model family nears its tokens-per-minute limit.",
    }.get(command, "")
    fallback = f"{command}: {intro} " + " | ".join(line.replace("`", "") for line in lines)
    return message(
        fallback,
        [section(f"*{command}* — {intro}"), section("\n".join(f"• {line}" for line in lines))],
        response_type="ephemeral",
    )


def usage_error(error: UsageError) -> Message:
    lines = USAGE.get(error.command, [])
    return message(
        f"{error.command}: {error.message}",
        [
            section(f":warning: {esc(error.message)}"),
            section("*Usage*\n" + "\n".join(f"• {line}" for line in lines)),
        ],
        response_type="ephemeral",
    )


def working(text: str) -> Message:
    return message(
        text, [context(f":hourglass_flowing_sand: {esc(text)}")], response_type="ephemeral"
    )


# -- estimates -------------------------------------------------------------------------------------


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
        ("Billing tokens / epoch", _count(est.billing_tokens)),
        ("Charged tokens", _count(est.charged_tokens)),
        ("Training price", f"{usd(est.usd_per_1m_training_tokens)} / 1M tokens"),
    ]
    if est.n_examples is not None:
        pairs.append(("Examples", _count(est.n_examples)))
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
    for warning in est.warnings[:5]:
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
    for s in est.scenarios:
        title = f"*{esc(s.name)}*" + (f" · {esc(s.model)}" if s.name != s.model else "")
        if len(est.scenarios) > 1 and s is cheapest:
            title += "  :white_check_mark: cheapest"
        if (s.prompt_tokens, s.completion_tokens) != (first.prompt_tokens, first.completion_tokens):
            title += f"\n{s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion tokens"
        blocks.append(section(title))
        blocks.append(
            fields(
                [
                    ("Per month", usd(s.cost_per_month_usd)),
                    ("Per day", usd(s.cost_per_day_usd)),
                    ("Per 1,000 requests", _per_thousand(s.cost_per_request_usd)),
                ]
            )
        )
    if est.training:
        blocks.append(
            section(
                f"*Training* the fine-tuned model: {usd(est.training.get('cost_usd'))} "
                f"({est.training.get('charged_tokens', 0):,} charged tokens)"
            )
        )
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
                f"itself after *{_count(b.requests)} requests*{days}, saving "
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


# -- launch ----------------------------------------------------------------------------------------


def launch_value(launch: Launch, *, team: str, user_id: str, channel_id: str) -> str:
    """The request the Launch button carries; Slack signs it back to us with the click."""
    body = {
        "model": launch.model,
        "training_file": launch.training_file,
        "hyperparameters": launch.hyperparameters(),
        "suffix": launch.suffix,
        "validation_file": launch.validation_file,
        "team": team,
    }
    return json.dumps({"by": user_id, "channel": channel_id, "body": body}, separators=(",", ":"))


def _budget_lines(budget: BudgetStatus, cost: str | None) -> list[tuple[str, str]]:
    if budget.monthly_budget_usd is None:
        return [
            ("Team budget", f"{esc(budget.team)}: no monthly budget set"),
            ("Spent this month", usd(budget.spent_usd)),
        ]
    return [
        ("Team budget", f"{esc(budget.team)}: {usd(budget.monthly_budget_usd)} / month"),
        ("Spent this month", usd(budget.spent_usd)),
        ("Remaining", usd(budget.remaining_usd)),
    ]


def launch_preview(
    preview: JobPreview, launch: Launch, *, team: str, user_id: str, channel_id: str
) -> Message:
    est = preview.estimate
    cost = est.get("cost_usd")
    epochs = f"{est.get('n_epochs', '?')}" + (" (auto)" if est.get("epochs_auto") else "")
    pairs = [
        ("Model", esc(est.get("model", launch.model))),
        ("Training file", f"`{esc(launch.training_file)}`"),
        ("Estimated cost", usd(cost)),
        ("Epochs", epochs),
        ("Charged tokens", _count(est.get("charged_tokens"))),
        *_budget_lines(preview.budget, cost),
    ]
    details = []
    if launch.suffix:
        details.append(f"suffix `{esc(launch.suffix)}`")
    if launch.validation_file:
        details.append(f"validation `{esc(launch.validation_file)}`")
    blocks: list[Block] = [
        header(f"Launch fine-tuning? {usd(cost)}"),
        section(
            f"{mention(user_id)} asked to fine-tune *{esc(launch.model)}*"
            + (f" ({', '.join(details)})" if details else "")
        ),
        fields(pairs),
    ]
    for warning in est.get("warnings", [])[:5]:
        blocks.append(context(f":warning: {esc(warning)}"))
    value = launch_value(launch, team=team, user_id=user_id, channel_id=channel_id)
    cancel = {
        "type": "button",
        "action_id": CANCEL_ACTION,
        "text": {"type": "plain_text", "text": "Cancel"},
        "value": value,
    }
    if preview.budget.would_exceed:
        blocks.append(
            section(
                f":no_entry: This run would exceed *{esc(preview.budget.team)}*'s monthly budget "
                f"({usd(preview.budget.remaining_usd)} left of "
                f"{usd(preview.budget.monthly_budget_usd)}). "
                "Ask an admin to raise it, or launch a smaller run."
            )
        )
        blocks.append({"type": "actions", "block_id": "launch", "elements": [cancel]})
    else:
        launch_button = {
            "type": "button",
            "action_id": LAUNCH_ACTION,
            "style": "primary",
            "text": {"type": "plain_text", "text": "Launch"},
            "value": value,
        }
        blocks.append(
            {"type": "actions", "block_id": "launch", "elements": [launch_button, cancel]}
        )
    blocks.append(
        context(
            f"Exact estimate {exact(cost)} · prices {esc(est.get('price_version', '?'))} · "
            f"only {mention(user_id)} can launch"
        )
    )
    fallback = (
        f"Launch {launch.model} on {launch.training_file}? Estimated {usd(cost)}; "
        f"team {preview.budget.team} remaining {usd(preview.budget.remaining_usd)}"
    )
    return message(fallback, blocks, response_type="in_channel")


def launching(user_id: str, model: str) -> Message:
    return message(
        f"Launching {model}…",
        [section(f":rocket: {mention(user_id)} is launching *{esc(model)}*…")],
        replace_original=True,
    )


def launch_started(job: Job, *, user_id: str, replayed: bool, notify: str | None) -> Message:
    lines = [
        f":white_check_mark: {mention(user_id)} launched *{esc(job.model)}* as `{job.id}`"
        + (f" (OpenAI `{esc(job.openai_job_id)}`)" if job.openai_job_id else "")
    ]
    if replayed:
        lines.append("This launch was already done; no second job was created.")
    if notify:
        lines.append(f"{notify} will hear when it finishes.")
    pairs = [
        ("Status", esc(job.status)),
        ("Estimated cost", usd(job.estimated_cost_usd)),
        ("Team", esc(job.team or "—")),
    ]
    blocks = [
        section("\n".join(lines)),
        fields(pairs),
        context(
            f"Exact estimate {exact(job.estimated_cost_usd)} · "
            f"`/notify {job.id}` to follow it elsewhere"
        ),
    ]
    return message(
        f"Launched {job.model} as {job.id} (estimated {usd(job.estimated_cost_usd)})",
        blocks,
        replace_original=True,
    )


def launch_failed(err: ServiceClientError, *, user_id: str, model: str) -> Message:
    """Replaces the 'Launching…' message; the reasons with figures follow ephemerally."""
    return message(
        f"Launch of {model} failed: {err.title}",
        [
            section(
                f":x: {mention(user_id)}'s launch of *{esc(model)}* did not start: "
                f"{esc(err.title)}."
            )
        ],
        replace_original=True,
    )


def launch_cancelled(user_id: str, model: str) -> Message:
    return message(
        f"Launch of {model} cancelled; nothing was started.",
        [
            section(
                f":x: {mention(user_id)} cancelled the launch of *{esc(model)}*; "
                "nothing was started."
            )
        ],
        replace_original=True,
    )


def only_requester(requester_id: str) -> Message:
    return message(
        "Only the person who asked can launch this.",
        [section(f":lock: Only {mention(requester_id)} can launch or cancel this.")],
        response_type="ephemeral",
        replace_original=False,
    )


# -- subscriptions ---------------------------------------------------------------------------------


def describe_follows(follows: dict[str, Any]) -> str:
    kind = follows.get("type")
    if kind == "job":
        return f"job `{esc(follows.get('job_id', '?'))}`"
    if kind == "team":
        return f"team *{esc(follows.get('team', '?'))}*'s jobs"
    if kind == "all_jobs":
        return "every job"
    if kind == "tpm":
        at = follows.get("threshold_pct")
        return f"tokens per minute of *{esc(follows.get('family', '?'))}*" + (
            f" at {at}%" if at else ""
        )
    return esc(json.dumps(follows))


def describe_destination(destination: dict[str, Any]) -> str:
    if destination.get("type") == "slack":
        return mention(str(destination.get("channel", "?")))
    if destination.get("type") == "webhook":
        return f"webhook {esc(destination.get('url', '?'))}"
    return esc(json.dumps(destination))


def subscribed(sub: Subscription) -> Message:
    text = (
        f"{describe_destination(sub.destination)} will hear about {describe_follows(sub.follows)}."
    )
    return message(
        f"Subscribed ({sub.id})",
        [section(f":bell: {text}"), context(f"`{sub.id}` · stop with `/notify off {sub.id}`")],
        response_type="ephemeral",
    )


def subscription_list(subs: Sequence[Subscription]) -> Message:
    if not subs:
        return message(
            "No subscriptions here.",
            [
                section(
                    "No subscriptions for this channel or you. "
                    "Try `/notify all` or `/notify <job id>`."
                )
            ],
            response_type="ephemeral",
        )
    lines = [
        f"• `{s.id}` {describe_follows(s.follows)} → {describe_destination(s.destination)}"
        for s in subs[:40]
    ]
    blocks = [section("*Subscriptions*"), section("\n".join(lines))]
    if len(subs) > 40:
        blocks.append(context(f"and {len(subs) - 40} more"))
    return message(f"{len(subs)} subscription(s)", blocks, response_type="ephemeral")


def unsubscribed(subscription_id: str) -> Message:
    return message(
        f"Stopped {subscription_id}.",
        [section(f":no_bell: Stopped `{esc(subscription_id)}`.")],
        response_type="ephemeral",
    )


# -- errors ----------------------------------------------------------------------------------------


def _lines(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_SHOWN])
    return shown + ("…" if len(lines) > MAX_LINES_SHOWN else "")


def service_error(err: ServiceClientError) -> Message:
    """A problem response, said plainly with the figures the user needs to act."""
    x = err.extra
    if err.code == "over_budget":
        title = "Over budget"
        team = f"team *{esc(x['team'])}*" if x.get("team") else "the team"
        body = (
            f"This run is estimated at *{usd(x.get('estimate_usd'))}*, but {team} has "
            f"{usd(x.get('remaining_usd'))} left of its {usd(x.get('monthly_budget_usd'))} "
            f"monthly budget (spent {usd(x.get('spent_usd'))})."
        )
        exact_line = f"Exact estimate {exact(x.get('estimate_usd'))}"
    elif err.code == "format_errors" or x.get("format_errors"):
        title = "The training file has format errors"
        rows = [
            f"• *{esc(e.get('kind', '?'))}* ({e.get('count', '?')}): {esc(e.get('message', ''))}"
            + (f" — line {_lines(e['lines'])}" if e.get("lines") else "")
            for e in x.get("format_errors", [])[:10]
        ]
        body = "\n".join(rows) or esc(err.detail)
        exact_line = "Fix these lines and try again."
    elif err.code == "insufficient_quota":
        title = "OpenAI quota exhausted"
        body = (
            f"OpenAI refused the job: the organisation has run out of quota ({esc(err.detail)}). "
            "Add credit or raise the usage limit in OpenAI's billing settings, then try again."
        )
        exact_line = ""
    elif err.code == "openai_rejected":
        title = "OpenAI rejected the job"
        body = esc(err.detail)
        exact_line = f"parameter: {esc(x['param'])}" if x.get("param") else ""
    elif x.get("suggestions") is not None and "model" in x:
        title = "Unknown model"
        suggestions = x.get("suggestions") or []
        body = f"I don't know the model `{esc(x['model'])}`." + (
            " Did you mean " + ", ".join(f"`{esc(s)}`" for s in suggestions[:5]) + "?"
            if suggestions
            else ""
        )
        exact_line = ""
    elif err.code == "openai_not_configured":
        # A setup problem, not an outage: waiting will not fix it, and the user cannot either.
        title = "ratecard has no OpenAI API key configured"
        body = (
            "So it cannot read OpenAI files or launch jobs. Ask the ratecard operator to set "
            "RATECARD_OPENAI_API_KEY. Estimates from token counts "
            "(`/estimate train <model> tokens=<n>`) work without it."
        )
        exact_line = ""
    elif err.status in (401, 403):
        title = "The bot's API key was refused"
        body = (
            f"{esc(err.detail)}. An admin needs to check the bot's key (RATECARD_SERVICE_API_KEY)."
        )
        exact_line = ""
    elif err.status >= 500:
        title = "ratecard is not answering properly"
        body = f"{esc(err.detail)}. Nothing was changed; try again in a minute."
        exact_line = ""
    else:
        title = err.title
        body = esc(err.detail)
        exact_line = ""
    blocks = [section(f":warning: *{esc(title)}*\n{body}")]
    if exact_line:
        blocks.append(context(exact_line))
    repeats = err.detail.lower().startswith(title.lower())
    fallback = err.detail if repeats else f"{title}: {err.detail}"
    return message(fallback, blocks, response_type="ephemeral", replace_original=False)


def unexpected_error(reference: str) -> Message:
    return message(
        "Something went wrong on our side.",
        [
            section(":boom: Something went wrong on our side; it has been logged."),
            context(f"reference `{esc(reference)}`"),
        ],
        response_type="ephemeral",
        replace_original=False,
    )


def slack_file_problem(text: str) -> Message:
    return message(text, [section(f":page_facing_up: {esc(text)}")], response_type="ephemeral")
