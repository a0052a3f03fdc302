"""/notify: subscribe this channel or this person to a job, all jobs, a team, or TPM alerts."""

from __future__ import annotations

from typing import Any

from bot import blocks
from bot.flows.command import CommandFlow
from bot.flows.plumbing import BotContext, Responder
from bot.parsing import (
    NotifyAll,
    NotifyCommand,
    NotifyFineTuning,
    NotifyJob,
    NotifyList,
    NotifyOff,
    NotifyTeam,
    NotifyTpm,
    parse_notify,
)
from service.client import ServiceClientError, Subscription


async def visible_subscriptions(reply: Responder, ctx: BotContext) -> list[Subscription]:
    """The subscriptions of this channel and of this person: all that /notify may show or stop."""
    seen: dict[str, Subscription] = {}
    for destination in dict.fromkeys([reply.channel_id, reply.user_id]):
        for sub in await ctx.service.list_subscriptions(destination=destination):
            seen.setdefault(sub.id, sub)
    return list(seen.values())


def follows_of(
    parsed: NotifyJob | NotifyAll | NotifyTeam | NotifyTpm | NotifyFineTuning,
) -> dict[str, Any]:
    if isinstance(parsed, NotifyFineTuning):
        return {"type": "fine_tuning"} | ({"model": parsed.model} if parsed.model else {})
    if isinstance(parsed, NotifyJob):
        return {"type": "job", "job_id": parsed.job_id}
    if isinstance(parsed, NotifyAll):
        return {"type": "all_jobs"}
    if isinstance(parsed, NotifyTeam):
        return {"type": "team", "team": parsed.team}
    follows: dict[str, Any] = {"type": "tpm", "family": parsed.family}
    if parsed.threshold_pct is not None:
        follows["threshold_pct"] = parsed.threshold_pct
    return follows


async def run_notify(parsed: NotifyCommand, reply: Responder, ctx: BotContext) -> None:
    if isinstance(parsed, NotifyList):
        await reply.send(blocks.subscription_list(await visible_subscriptions(reply, ctx)))
        return
    if isinstance(parsed, NotifyOff):
        # Only subscriptions of this channel or this person can be stopped from here.
        if parsed.subscription_id not in {s.id for s in await visible_subscriptions(reply, ctx)}:
            raise ServiceClientError(
                404,
                "Not found",
                f"no subscription {parsed.subscription_id} for this "
                "channel or you; see `/notify list`",
            )
        await ctx.service.delete_subscription(parsed.subscription_id)
        await reply.send(blocks.unsubscribed(parsed.subscription_id))
        return
    if not isinstance(parsed, NotifyJob | NotifyAll | NotifyTeam | NotifyTpm | NotifyFineTuning):
        raise TypeError(f"not a /notify subscription: {parsed!r}")  # Help is answered in the ack
    destination = reply.user_id if parsed.target == "me" else reply.channel_id
    sub = await ctx.service.create_subscription(
        destination={"type": "slack", "channel": destination},
        follows=follows_of(parsed),
        created_by=f"slack:{reply.user_id}",
    )
    await reply.send(blocks.subscribed(sub))


NOTIFY = CommandFlow("/notify", parse_notify, run_notify, lambda _: None)
