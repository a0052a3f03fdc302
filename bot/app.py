"""The Slack app: bolt's listeners wired to the command flows in `bot.flows`.

Each listener acknowledges first (a slash command's ack may carry its help or usage answer), then
hands the slow half to the flow's background task; failures anywhere are answered by the one
error handler, `bot.flows.plumbing.report_failure`.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.flows.command import Ack, CommandFlow, handle_command
from bot.flows.estimate import ESTIMATE
from bot.flows.launch import LAUNCH, on_cancel_click, on_launch_click
from bot.flows.notify import NOTIFY
from bot.flows.plan import PLAN
from bot.flows.plumbing import BackgroundWork, BotContext, Clock, report_failure
from service.client import ServiceClient
from service.settings import Settings

COMMANDS: tuple[CommandFlow, ...] = (ESTIMATE, LAUNCH, NOTIFY, PLAN)


class RatecardBoltApp(AsyncApp):
    """bolt's AsyncApp plus the bot's collaborators (so a host can drain and close them)."""

    bot_context: BotContext

    @property
    def background(self) -> BackgroundWork:
        return self.bot_context.background

    @property
    def service(self) -> ServiceClient:
        return self.bot_context.service

    async def aclose(self, timeout: float = 10.0) -> None:
        await self.bot_context.background.drain(timeout)
        await self.bot_context.files_http.aclose()
        await self.bot_context.service.aclose()


def create_bolt_app(
    settings: Settings,
    client: ServiceClient,
    *,
    clock: Clock = time.monotonic,
    default_team: str = "default",
) -> RatecardBoltApp:
    """The Slack app for one workspace, talking to the service through `client`."""
    if settings.slack_bot_token is None:
        raise ValueError("RATECARD_SLACK_BOT_TOKEN is required for the Slack bot")
    token = settings.slack_bot_token.get_secret_value()
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # One workspace, one token: answering without bolt's auth.test round trip means a slow or
        # unreachable Slack Web API can never delay (or fail) the 3-second acknowledgement.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = RatecardBoltApp(
        # Tokenless: listeners get `authorize`'s token per request (bolt warned on every start,
        # "token will be ignored", when this client carried one too).
        client=AsyncWebClient(base_url=settings.slack_api_url),
        authorize=authorize,
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        process_before_response=False,
        name="ratecard",
    )
    ctx = BotContext(
        service=client,
        web=AsyncWebClient(token=token, base_url=settings.slack_api_url),
        slack_token=token,
        slack_api_url=settings.slack_api_url,
        files_http=httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)),
        upload_dir=settings.upload_dir,
        max_upload_bytes=settings.max_upload_bytes,
        default_team=default_team,
        clock=clock,
    )
    app.bot_context = ctx

    for flow in COMMANDS:
        app.command(flow.command)(_command_listener(flow, ctx))

    @app.action(blocks.LAUNCH_ACTION)
    async def on_launch(ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        on_launch_click(body, ctx)

    @app.action(blocks.CANCEL_ACTION)
    async def on_cancel(ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        on_cancel_click(body, ctx)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Failures inside bolt before a listener took over; answered like any other.
        await report_failure(error, ctx.reply_for(body or {}, clock()))

    return app


def _command_listener(flow: CommandFlow, ctx: BotContext) -> Any:
    # bolt passes listener arguments by parameter name, so each command gets a real function.
    async def listener(ack: Ack, body: dict[str, Any]) -> None:
        await handle_command(flow, ack, body, ctx)

    listener.__name__ = f"on_{flow.command.strip('/')}"
    return listener
