"""/launch: an estimate and the team's budget with Launch/Cancel buttons; a click launches once.

Nothing starts until the requester presses Launch. The button carries the request, who asked and
where; a double click or Slack's retry of one click replays the same launch (one idempotency key
per message, button and person) instead of starting a second job.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

from bot import blocks
from bot.flows.command import CommandFlow
from bot.flows.plumbing import BotContext, Responder
from bot.parsing import Launch, LaunchCommand, parse_launch
from bot.respond import Reply
from service.client import ServiceClientError

log = logging.getLogger(__name__)

MAX_LAUNCH_LOCKS = 1024


def launch_note(parsed: Launch) -> str:
    return f"Estimating {parsed.model} on {parsed.training_file}…"


async def run_launch_preview(parsed: LaunchCommand, reply: Responder, ctx: BotContext) -> None:
    if not isinstance(parsed, Launch):
        raise TypeError(f"not a /launch request: {parsed!r}")  # Help is answered in the ack
    team = parsed.team or ctx.default_team
    request = {
        "training_file": parsed.training_file,
        "model": parsed.model,
        "hyperparameters": parsed.hyperparameters(),
        "suffix": parsed.suffix,
        "validation_file": parsed.validation_file,
        "team": team,
        "launched_by": f"slack:{reply.user_id}",
        "force": False,
        "method": parsed.method,
    }
    preview = await ctx.service.preview_job(request)
    await reply.send(
        blocks.launch_preview(
            preview, parsed, team=team, user_id=reply.user_id, channel_id=reply.channel_id
        )
    )


LAUNCH = CommandFlow("/launch", parse_launch, run_launch_preview, launch_note)


def idempotency_key(body: dict[str, Any]) -> str:
    """One key per (message, button, person): a double click or Slack's retry replays one launch."""
    container = body.get("container") or {}
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    action_id = ((body.get("actions") or [{}])[0]).get("action_id", "")
    user = (body.get("user") or {}).get("id", "")
    digest = hashlib.sha256(f"{channel}:{message_ts}:{action_id}:{user}".encode()).hexdigest()
    return f"slack-{digest[:40]}"


def button_value(body: dict[str, Any]) -> dict[str, Any] | None:
    """The launch request a button carries, or None when it is not one of ours."""
    try:
        value = json.loads(((body.get("actions") or [{}])[0]).get("value") or "")
    except ValueError:
        value = None
    if not (isinstance(value, dict) and isinstance(value.get("body"), dict) and value.get("by")):
        log.warning("launch button without a usable value; ignoring")
        return None
    return value


async def ensure_subscription(
    ctx: BotContext, job_id: str, openai_job_id: str | None, channel: str, user: str, created: bool
) -> None:
    if not created:  # a replay: the first click subscribed unless it died half-way
        existing = await ctx.service.list_subscriptions(destination=channel)
        if any(s.follows.get("job_id") in (job_id, openai_job_id) for s in existing):
            return
    await ctx.service.create_subscription(
        destination={"type": "slack", "channel": channel},
        follows={"type": "job", "job_id": job_id},
        created_by=f"slack:{user}",
    )


async def run_launch(value: dict[str, Any], key: str, reply: Responder, ctx: BotContext) -> None:
    """The Launch click: create the job (once per key), subscribe the channel, say so."""
    request = dict(value["body"])
    model = str(request.get("model", ""))
    # One launch per key at a time in this process, so a double click waits for the first
    # click's subscription instead of racing it.
    locks = ctx.launch_locks
    if len(locks) > MAX_LAUNCH_LOCKS:  # forget finished launches; keep busy ones
        for stale in [k for k, v in locks.items() if not v.locked()]:
            del locks[stale]
    async with locks.setdefault(key, asyncio.Lock()):
        await reply.send(blocks.launching(reply.user_id, model))
        try:
            job, created = await ctx.service.launch_job(
                {**request, "launched_by": f"slack:{reply.user_id}", "force": False},
                idempotency_key=key,
            )
        except ServiceClientError as exc:
            await reply.send(blocks.launch_failed(exc, user_id=reply.user_id, model=model))
            await reply.send(blocks.service_error(exc))
            return
        channel = str(value.get("channel") or reply.channel_id)
        notify: str | None = blocks.mention(channel)
        try:
            await ensure_subscription(
                ctx, job.id, job.openai_job_id, channel, reply.user_id, created
            )
        except ServiceClientError as exc:
            log.warning("launched %s but could not subscribe %s: %s", job.id, channel, exc)
            notify = None
        await reply.send(
            blocks.launch_started(job, user_id=reply.user_id, replayed=not created, notify=notify)
        )


def _requester_click(body: dict[str, Any], ctx: BotContext) -> tuple[dict[str, Any], Reply] | None:
    """The button's request and where to answer, when the person who asked clicked it."""
    reply = ctx.reply_for(body, ctx.clock())
    value = button_value(body)
    if value is None:
        return None
    if value["by"] != reply.user_id:
        ctx.in_background(
            reply, reply.send(blocks.only_requester(str(value["by"]))), name="not yours"
        )
        return None
    return value, reply


def on_launch_click(body: dict[str, Any], ctx: BotContext) -> None:
    """After the ack of a Launch click: launch in the background."""
    clicked = _requester_click(body, ctx)
    if clicked is not None:
        value, reply = clicked
        ctx.in_background(
            reply,
            run_launch(value, idempotency_key(body), reply, ctx),
            name=f"launch by {reply.user_id}",
        )


def on_cancel_click(body: dict[str, Any], ctx: BotContext) -> None:
    """After the ack of a Cancel click: say nothing was launched."""
    clicked = _requester_click(body, ctx)
    if clicked is not None:
        value, reply = clicked
        model = str(value["body"].get("model", ""))
        ctx.in_background(
            reply, reply.send(blocks.launch_cancelled(reply.user_id, model)), name="cancel"
        )
