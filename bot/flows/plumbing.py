"""What every flow shares: where its answer goes, what it may call, the work that outlives the
ack, and the one error handler.

Every listener acknowledges first, within milliseconds: parsing is pure and instant, and anything
that touches the network (the service, Slack files) runs afterwards in a tracked asyncio task that
posts its result through a `Responder`. The bot holds no business logic: prices, budgets, jobs and
subscriptions all come from the service's REST API through `ServiceClient`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.blocks import Message
from bot.files import SlackFileError
from bot.respond import Reply
from service.client import ServiceClient, ServiceClientError

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class Responder(Protocol):
    """Where one command's answers go: `bot.respond.Reply` in Slack, a recorder in tests."""

    user_id: str
    channel_id: str

    async def send(self, msg: Message) -> None: ...


class BackgroundWork:
    """The slow halves of commands; kept referenced so they finish, and drained at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for every running task (tests, shutdown); cancel what is left after `timeout`."""
        while self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            if pending:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            del done


@dataclass
class BotContext:
    """Everything a flow may call: the service's REST API, Slack's Web API and file downloads."""

    service: ServiceClient
    web: AsyncWebClient
    slack_token: str
    slack_api_url: str
    files_http: httpx.AsyncClient
    upload_dir: Path | None
    max_upload_bytes: int
    default_team: str = "default"
    clock: Clock = time.monotonic
    background: BackgroundWork = field(default_factory=BackgroundWork)
    # One launch per idempotency key at a time in this process (see flows.launch).
    launch_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def reply_for(self, body: dict[str, Any], received_at: float) -> Reply:
        return Reply.for_request(self.web, body, received_at=received_at, clock=self.clock)

    def in_background(self, reply: Responder, work: Awaitable[None], *, name: str) -> None:
        """Run `work` after the ack; whatever it raises is answered through `reply`."""

        async def guarded() -> None:
            try:
                await work
            except Exception as exc:  # every failure is answered; none is silent
                await report_failure(exc, reply)

        self.background.spawn(guarded(), name=name)


async def report_failure(exc: BaseException, reply: Responder) -> None:
    """The one error handler: the user hears what failed and, where they can, what to do."""
    if isinstance(exc, ServiceClientError):
        log.info("service refused a Slack request: %s %s", exc.status, exc.code or exc.title)
        msg = blocks.service_error(exc)
    elif isinstance(exc, SlackFileError):
        msg = blocks.slack_file_problem(str(exc))
    elif isinstance(exc, ValidationError):
        msg = blocks.slack_file_problem("; ".join(str(e.get("msg", "")) for e in exc.errors()))
    else:
        reference = secrets.token_hex(4)
        log.error("Slack request failed (reference %s)", reference, exc_info=exc)
        msg = blocks.unexpected_error(reference)
    try:
        await reply.send(msg)
    except (SlackApiError, OSError):
        log.exception("could not tell user %s about a failure", reply.user_id)
