"""One slash command, from bolt's ack to the answer posted after it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import blocks
from bot.flows.help import Answered, parse_or_answer
from bot.flows.plumbing import BotContext, Responder

Ack = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CommandFlow:
    command: str
    parse: Callable[[str], Any]
    # The work after the ack: the parsed command, where to answer, what it may call.
    run: Callable[[Any, Responder, BotContext], Awaitable[None]]
    # What the ack says while `run` works (None: a silent ack, the answer follows quickly).
    working: Callable[[Any], str | None]


async def handle_command(
    flow: CommandFlow, ack: Ack, body: dict[str, Any], ctx: BotContext
) -> None:
    """Ack at once (help and usage errors are answered in the ack), then run in the background.

    Parsing comes before the ack only because the ack can carry its answer; it is pure and takes
    microseconds, so the ack is still the first thing that waits on anything.
    """
    received_at = ctx.clock()
    parsed = parse_or_answer(flow.command, flow.parse, body.get("text", ""))
    if isinstance(parsed, Answered):
        await ack(parsed.message)
        return
    note = flow.working(parsed)
    if note:
        await ack(blocks.working(note))
    else:
        await ack()
    reply = ctx.reply_for(body, received_at)
    ctx.in_background(
        reply, flow.run(parsed, reply, ctx), name=f"{flow.command} by {body.get('user_id')}"
    )
