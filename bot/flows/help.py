"""Answers that need no work, so they go in the ack itself: help, and usage errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import blocks
from bot.blocks import Message
from bot.parsing import Help, UsageError


@dataclass(frozen=True)
class Answered:
    """The command is answered by the ack's own message; nothing runs after it."""

    message: Message


def parse_or_answer(command: str, parse: Callable[[str], Any], text: str) -> Any:
    """The parsed command, or `Answered` for `help` (or no arguments) and for text that does not
    parse (the reason and the command's usage)."""
    try:
        parsed = parse(text)
    except UsageError as exc:
        return Answered(blocks.usage_error(exc))
    if isinstance(parsed, Help):
        return Answered(blocks.help_message(command))
    return parsed
