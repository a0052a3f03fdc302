"""/notify answers: subscribed, the list, unsubscribed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.blocks.base import (
    Message,
    context,
    esc,
    mention,
    message,
    section,
)
from service.client import Subscription


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
    if kind == "fine_tuning":
        model = follows.get("model")
        return (
            f"the fine-tuning countdown of `{esc(model)}`"
            if model
            else ("the fine-tuning countdown (every fine-tuned model)")
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
