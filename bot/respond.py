"""Answering after the ack: the request's response_url while Slack honours it, else the Web API.

Slack accepts up to 5 posts to a response_url within 30 minutes of the request. Work that outlives
that (a huge file, a slow launch) or a response_url that fails still reaches the user:
in-channel messages with chat.postMessage, replacements with chat.update, ephemeral ones with
chat.postEphemeral (and a DM if the bot is not in the channel).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.blocks import Message

log = logging.getLogger(__name__)

RESPONSE_URL_LIFETIME_SECONDS = 30 * 60
RESPONSE_URL_MAX_USES = 5
# Leave a margin: a post that starts at 29:59 may arrive after Slack stopped accepting it.
RESPONSE_URL_MARGIN_SECONDS = 60


@dataclass
class Reply:
    """Where the answer to one command or click goes."""

    web: AsyncWebClient
    channel_id: str
    user_id: str
    response_url: str | None
    received_at: float
    message_ts: str | None = None
    clock: Callable[[], float] = time.monotonic
    uses: int = 0
    sent: list[str] = field(default_factory=list)

    @classmethod
    def for_request(
        cls,
        web: AsyncWebClient,
        body: dict[str, Any],
        *,
        received_at: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Reply:
        """From a slash-command body or an interaction payload."""
        if "command" in body:
            channel = str(body.get("channel_id", ""))
            user = str(body.get("user_id", ""))
            ts = None
        else:
            channel = str(
                (body.get("channel") or {}).get("id")
                or (body.get("container") or {}).get("channel_id", "")
            )
            user = str((body.get("user") or {}).get("id", ""))
            ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get(
                "ts"
            )
        return cls(
            web=web,
            channel_id=channel,
            user_id=user,
            response_url=body.get("response_url"),
            received_at=received_at,
            message_ts=ts,
            clock=clock,
        )

    def _response_url_usable(self) -> bool:
        if not self.response_url or self.uses >= RESPONSE_URL_MAX_USES:
            return False
        age = self.clock() - self.received_at
        return age < RESPONSE_URL_LIFETIME_SECONDS - RESPONSE_URL_MARGIN_SECONDS

    async def send(self, msg: Message) -> None:
        if self._response_url_usable():
            assert self.response_url is not None
            self.uses += 1
            try:
                response = await AsyncWebhookClient(self.response_url, timeout=10).send_dict(
                    dict(msg)
                )
            except (TimeoutError, OSError, aiohttp.ClientError) as exc:
                log.warning(
                    "response_url post failed (%s); falling back to the Web API", type(exc).__name__
                )
            else:
                if response.status_code == 200:
                    self.sent.append("response_url")
                    return
                log.warning(
                    "response_url answered %s; falling back to the Web API", response.status_code
                )
        await self._web_api(msg)

    async def _web_api(self, msg: Message) -> None:
        text, blocks = msg.get("text", ""), msg.get("blocks")
        if msg.get("replace_original") and self.message_ts:
            await self.web.chat_update(
                channel=self.channel_id, ts=self.message_ts, text=text, blocks=blocks
            )
            self.sent.append("chat.update")
        elif msg.get("response_type") == "in_channel" or msg.get("replace_original"):
            await self.web.chat_postMessage(channel=self.channel_id, text=text, blocks=blocks)
            self.sent.append("chat.postMessage")
        else:
            try:
                await self.web.chat_postEphemeral(
                    channel=self.channel_id, user=self.user_id, text=text, blocks=blocks
                )
                self.sent.append("chat.postEphemeral")
            except SlackApiError as exc:
                # Not in the channel (or archived): the user still needs the answer, privately.
                log.info("chat.postEphemeral failed (%s); sending a DM", exc.response.get("error"))
                await self.web.chat_postMessage(channel=self.user_id, text=text, blocks=blocks)
                self.sent.append("chat.postMessage")
