"""/notify's flow, called directly: subscribe, list, stop, only what this channel or person owns."""

from __future__ import annotations

import pytest

from bot.flows.notify import run_notify
from bot.flows.plumbing import BotContext
from bot.parsing import NotifyAll, NotifyList, NotifyOff, NotifyTpm
from service.client import ServiceClientError
from tests.bot.flows.conftest import RecordingResponder, shown


async def test_notify__subscribe_list_and_stop_from_one_channel(
    ctx: BotContext, responder: RecordingResponder
) -> None:
    await run_notify(NotifyTpm("gpt-3.5-turbo", 80), responder, ctx)
    [sub] = await ctx.service.list_subscriptions(destination="C0LAUNCH")
    assert sub.follows == {"type": "tpm", "family": "gpt-3.5-turbo", "threshold_pct": 80}
    assert "will hear about" in shown(responder.sent)

    await run_notify(NotifyList(), responder, ctx)
    assert sub.id in shown(responder.sent[-1:])

    await run_notify(NotifyOff(sub.id), responder, ctx)
    assert await ctx.service.list_subscriptions(destination="C0LAUNCH") == []


async def test_notify__off_for_another_channels_subscription_is_not_found(
    ctx: BotContext, responder: RecordingResponder
) -> None:
    elsewhere = RecordingResponder(user_id="U0BOB", channel_id="C0OTHER")
    await run_notify(NotifyAll(), elsewhere, ctx)
    [sub] = await ctx.service.list_subscriptions(destination="C0OTHER")
    with pytest.raises(ServiceClientError) as raised:
        await run_notify(NotifyOff(sub.id), responder, ctx)
    assert raised.value.status == 404
    assert [s.id for s in await ctx.service.list_subscriptions(destination="C0OTHER")] == [sub.id]
