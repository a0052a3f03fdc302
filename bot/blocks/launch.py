"""The launch preview with its Launch/Cancel buttons, and what follows a click."""

from __future__ import annotations

import json

from bot.blocks.base import (
    CANCEL_ACTION,
    LAUNCH_ACTION,
    MAX_WARNINGS,
    Block,
    Message,
    context,
    count,
    esc,
    exact,
    fields,
    header,
    mention,
    message,
    section,
    usd,
)
from bot.parsing import Launch
from service.client import BudgetStatus, Job, JobPreview, ServiceClientError


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
    if launch.method != "supervised":  # buttons made before methods existed stay the same
        body["method"] = launch.method
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
        ("Charged tokens", count(est.get("charged_tokens"))),
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
    verdict = preview.fine_tuning
    if verdict is not None and verdict.last_day is not None and verdict.days_left is not None:
        # The wind-down is the one deadline a team cannot negotiate: said before the buttons.
        blocks.append(
            section(
                f":hourglass_flowing_sand: OpenAI accepts new {esc(verdict.method)} fine-tuning "
                f"jobs on this model until *{esc(verdict.last_day)}* "
                f"({verdict.days_left} day{'s' if verdict.days_left != 1 else ''} left)"
            )
        )
    for warning in est.get("warnings", [])[:MAX_WARNINGS]:
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
