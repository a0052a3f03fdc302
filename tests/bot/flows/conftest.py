"""Command flows called directly: no bolt app, a recording responder, the service over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import Message
from bot.flows.plumbing import BotContext
from service.client import ServiceClient
from tests.bot.harness import ADMIN_KEY, BOT_TOKEN, SlackStack


@dataclass
class RecordingResponder:
    """A `bot.flows.plumbing.Responder` that keeps what the flow said."""

    user_id: str = "U0ALICE"
    channel_id: str = "C0LAUNCH"
    sent: list[Message] = field(default_factory=list)

    async def send(self, msg: Message) -> None:
        self.sent.append(msg)


@pytest.fixture
def responder() -> RecordingResponder:
    return RecordingResponder()


@pytest.fixture
async def ctx(stack: SlackStack, tmp_path: Path) -> AsyncIterator[BotContext]:
    """What a flow may call: the running service's REST API and the fake Slack, over loopback."""
    slack_api_url = f"{stack.slack.url}/api/"
    service = ServiceClient(stack.service.url, ADMIN_KEY)
    async with httpx.AsyncClient(timeout=30) as files_http:
        yield BotContext(
            service=service,
            web=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url),
            slack_token=BOT_TOKEN,
            slack_api_url=slack_api_url,
            files_http=files_http,
            upload_dir=tmp_path,
            max_upload_bytes=10**7,
        )
    await service.aclose()


def shown(messages: list[Message]) -> str:
    from tests.bot.harness import texts

    return "\n".join(texts(m) for m in messages)


def first(messages: list[Message]) -> dict[str, Any]:
    assert messages, "the flow said nothing"
    return dict(messages[0])
