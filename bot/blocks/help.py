"""Help, usage errors and the "working on it" note that answer a command in its ack."""

from __future__ import annotations

from bot.blocks.base import (
    Message,
    context,
    esc,
    message,
    section,
)
from bot.parsing import USAGE, UsageError


def help_message(command: str) -> Message:
    lines = USAGE.get(command, [])
    intro = {
        "/estimate": "What will it cost? Training (tokens or a file), or inference side by side.",
        "/launch": "Start a fine-tuning job after seeing its estimate and your team's budget.",
        "/notify": "Get told when jobs finish or a model family nears its tokens-per-minute limit.",
        "/plan": "Fine-tuned models stop with their base: days left, and what moving costs.",
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
