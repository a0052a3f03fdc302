"""The Slack app: /estimate, /launch, /notify and the Launch/Cancel buttons.

Every listener acknowledges first, within milliseconds: parsing is pure and instant, and anything
that touches the network (the service, Slack files) runs afterwards in a tracked asyncio task that
posts its result through `Reply`. The bot holds no business logic: prices, budgets, jobs and
subscriptions all come from the service's REST API through `ServiceClient`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.files import SlackFileError, download, find_file
from bot.parsing import (
    Help,
    Inference,
    Launch,
    NotifyAll,
    NotifyCommand,
    NotifyJob,
    NotifyList,
    NotifyOff,
    NotifyTeam,
    NotifyTpm,
    TrainFromOpenAIFile,
    TrainFromSlackFile,
    TrainFromTokens,
    UsageError,
    parse_estimate,
    parse_launch,
    parse_notify,
)
from bot.respond import Reply
from service.client import ServiceClient, ServiceClientError, Subscription
from service.estimates.schemas import (
    InferenceRequest,
    ScenarioIn,
    TrainingEstimateOut,
    TrainingRequest,
    WorkloadIn,
)
from service.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
MAX_LAUNCH_LOCKS = 1024


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


class RatecardBoltApp(AsyncApp):
    """bolt's AsyncApp plus the bot's collaborators (so a host can drain and close them)."""

    background: BackgroundWork
    service: ServiceClient
    files_http: httpx.AsyncClient

    async def aclose(self, timeout: float = 10.0) -> None:
        await self.background.drain(timeout)
        await self.files_http.aclose()
        await self.service.aclose()


def idempotency_key(body: dict[str, Any]) -> str:
    """One key per (message, button, person): a double click or Slack's retry replays one launch."""
    container = body.get("container") or {}
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    action_id = ((body.get("actions") or [{}])[0]).get("action_id", "")
    user = (body.get("user") or {}).get("id", "")
    digest = hashlib.sha256(f"{channel}:{message_ts}:{action_id}:{user}".encode()).hexdigest()
    return f"slack-{digest[:40]}"


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
    web = AsyncWebClient(token=token, base_url=settings.slack_api_url)

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
    app.background = BackgroundWork()
    app.service = client
    app.files_http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
    launch_locks: dict[str, asyncio.Lock] = {}

    def reply_for(body: dict[str, Any], received_at: float) -> Reply:
        return Reply.for_request(web, body, received_at=received_at, clock=clock)

    def in_background(reply: Reply, work: Awaitable[None], *, name: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception as exc:  # every failure is answered; none is silent
                await report_failure(exc, reply)

        app.background.spawn(guarded(), name=name)

    async def command_flow(
        ack: Any,
        body: dict[str, Any],
        parse: Callable[[str], Any],
        run: Callable[[Any, Reply, dict[str, Any]], Awaitable[None]],
        working: Callable[[Any], str | None],
    ) -> None:
        received_at = clock()
        command = body.get("command", "")
        try:
            parsed = parse(body.get("text", ""))
        except UsageError as exc:
            await ack(blocks.usage_error(exc))
            return
        if isinstance(parsed, Help):
            await ack(blocks.help_message(command))
            return
        note = working(parsed)
        if note:
            await ack(blocks.working(note))
        else:
            await ack()
        reply = reply_for(body, received_at)
        in_background(
            reply,
            run(parsed, reply, body),
            name=f"{command} by {body.get('user_id')}",
        )

    # -- /estimate ---------------------------------------------------------------------------------

    def estimate_note(parsed: Any) -> str | None:
        if isinstance(parsed, TrainFromSlackFile):
            return "Fetching your file and counting tokens…"
        if isinstance(parsed, TrainFromOpenAIFile):
            return f"Counting tokens in {parsed.file_id}…"
        return None

    async def run_estimate(parsed: Any, reply: Reply, body: dict[str, Any]) -> None:
        if isinstance(parsed, TrainFromTokens):
            est = await client.estimate_training(
                TrainingRequest(
                    model=parsed.model,
                    tokens=parsed.tokens,
                    n_examples=parsed.examples,
                    n_epochs=parsed.epochs,
                    as_of=parsed.as_of,
                )
            )
            await reply.send(
                blocks.training_estimate(est, source=f"{parsed.tokens:,} tokens per epoch")
            )
        elif isinstance(parsed, TrainFromOpenAIFile):
            preview = await client.preview_job(
                {
                    "training_file": parsed.file_id,
                    "model": parsed.model,
                    "hyperparameters": {"n_epochs": parsed.epochs},
                    "team": default_team,
                    "launched_by": f"slack:{reply.user_id}",
                }
            )
            est = TrainingEstimateOut.model_validate({"id": "", **preview.estimate})
            await reply.send(
                blocks.training_estimate(est, source=f"OpenAI file `{parsed.file_id}`")
            )
        elif isinstance(parsed, TrainFromSlackFile):
            file = await find_file(
                web, ref=parsed.file_ref, channel_id=reply.channel_id, user_id=reply.user_id
            )
            path = await download(
                file,
                token=token,
                slack_api_url=settings.slack_api_url,
                http=app.files_http,
                folder=settings.upload_dir,
                max_bytes=settings.max_upload_bytes,
            )
            try:
                est = await client.estimate_training_file(
                    path=path,
                    model=parsed.model,
                    n_epochs=parsed.epochs,
                    as_of=parsed.as_of,
                    filename=str(file.get("name") or ""),
                )
            finally:
                path.unlink(missing_ok=True)
            await reply.send(
                blocks.training_estimate(est, source=f"{file.get('name', 'shared file')}")
            )
        elif isinstance(parsed, Inference):
            est_inf = await client.estimate_inference(
                InferenceRequest(
                    model=parsed.model,
                    workload=WorkloadIn(
                        prompt_tokens=parsed.prompt_tokens,
                        completion_tokens=parsed.completion_tokens,
                        requests_per_day=parsed.requests_per_day,
                    ),
                    scenarios=[ScenarioIn(model=m) for m in parsed.vs],
                    fine_tune_prompt_cut=None
                    if parsed.prompt_cut is None
                    else float(parsed.prompt_cut),
                    training_tokens=parsed.training_tokens,
                    as_of=parsed.as_of,
                )
            )
            await reply.send(blocks.inference_estimate(est_inf))

    @app.command("/estimate")
    async def on_estimate(ack: Any, body: dict[str, Any]) -> None:
        await command_flow(ack, body, parse_estimate, run_estimate, estimate_note)

    # -- /launch and its buttons -------------------------------------------------------------------

    async def run_launch_preview(parsed: Launch, reply: Reply, body: dict[str, Any]) -> None:
        team = parsed.team or default_team
        request = {
            "training_file": parsed.training_file,
            "model": parsed.model,
            "hyperparameters": parsed.hyperparameters(),
            "suffix": parsed.suffix,
            "validation_file": parsed.validation_file,
            "team": team,
            "launched_by": f"slack:{reply.user_id}",
            "force": False,
        }
        preview = await client.preview_job(request)
        await reply.send(
            blocks.launch_preview(
                preview, parsed, team=team, user_id=reply.user_id, channel_id=reply.channel_id
            )
        )

    @app.command("/launch")
    async def on_launch(ack: Any, body: dict[str, Any]) -> None:
        await command_flow(
            ack,
            body,
            parse_launch,
            run_launch_preview,
            lambda p: f"Estimating {p.model} on {p.training_file}…",
        )

    async def ensure_subscription(
        job_id: str, openai_job_id: str | None, channel: str, user: str, created: bool
    ) -> None:
        if not created:  # a replay: the first click subscribed unless it died half-way
            existing = await client.list_subscriptions(destination=channel)
            if any(s.follows.get("job_id") in (job_id, openai_job_id) for s in existing):
                return
        await client.create_subscription(
            destination={"type": "slack", "channel": channel},
            follows={"type": "job", "job_id": job_id},
            created_by=f"slack:{user}",
        )

    async def run_launch(value: dict[str, Any], key: str, reply: Reply) -> None:
        request = dict(value["body"])
        model = str(request.get("model", ""))
        # One launch per key at a time in this process, so a double click waits for the first
        # click's subscription instead of racing it.
        if len(launch_locks) > MAX_LAUNCH_LOCKS:  # forget finished launches; keep busy ones
            for stale in [k for k, v in launch_locks.items() if not v.locked()]:
                del launch_locks[stale]
        lock = launch_locks.setdefault(key, asyncio.Lock())
        async with lock:
            await reply.send(blocks.launching(reply.user_id, model))
            try:
                job, created = await client.launch_job(
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
                    job.id, job.openai_job_id, channel, reply.user_id, created
                )
            except ServiceClientError as exc:
                log.warning("launched %s but could not subscribe %s: %s", job.id, channel, exc)
                notify = None
            await reply.send(
                blocks.launch_started(
                    job, user_id=reply.user_id, replayed=not created, notify=notify
                )
            )

    def click(body: dict[str, Any]) -> tuple[dict[str, Any], Reply] | None:
        received_at = clock()
        reply = reply_for(body, received_at)
        try:
            value = json.loads(((body.get("actions") or [{}])[0]).get("value") or "")
            assert (
                isinstance(value, dict) and isinstance(value.get("body"), dict) and value.get("by")
            )
        except (ValueError, AssertionError):
            log.warning("launch button without a usable value; ignoring")
            return None
        if value["by"] != reply.user_id:
            in_background(
                reply, reply.send(blocks.only_requester(str(value["by"]))), name="not yours"
            )
            return None
        return value, reply

    @app.action(blocks.LAUNCH_ACTION)
    async def on_launch_click(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        clicked = click(body)
        if clicked is not None:
            value, reply = clicked
            in_background(
                reply,
                run_launch(value, idempotency_key(body), reply),
                name=f"launch by {reply.user_id}",
            )

    @app.action(blocks.CANCEL_ACTION)
    async def on_cancel_click(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        clicked = click(body)
        if clicked is not None:
            value, reply = clicked
            model = str(value["body"].get("model", ""))
            in_background(
                reply, reply.send(blocks.launch_cancelled(reply.user_id, model)), name="cancel"
            )

    # -- /notify -----------------------------------------------------------------------------------

    async def visible_subscriptions(reply: Reply) -> list[Subscription]:
        seen: dict[str, Subscription] = {}
        for destination in dict.fromkeys([reply.channel_id, reply.user_id]):
            for sub in await client.list_subscriptions(destination=destination):
                seen.setdefault(sub.id, sub)
        return list(seen.values())

    async def run_notify(parsed: NotifyCommand, reply: Reply, body: dict[str, Any]) -> None:
        if isinstance(parsed, NotifyList):
            await reply.send(blocks.subscription_list(await visible_subscriptions(reply)))
            return
        if isinstance(parsed, NotifyOff):
            # Only subscriptions of this channel or this person can be stopped from here.
            if parsed.subscription_id not in {s.id for s in await visible_subscriptions(reply)}:
                raise ServiceClientError(
                    404,
                    "Not found",
                    f"no subscription {parsed.subscription_id} for this "
                    "channel or you; see `/notify list`",
                )
            await client.delete_subscription(parsed.subscription_id)
            await reply.send(blocks.unsubscribed(parsed.subscription_id))
            return
        assert not isinstance(parsed, Help)
        destination = reply.user_id if parsed.target == "me" else reply.channel_id
        follows: dict[str, Any]
        if isinstance(parsed, NotifyJob):
            follows = {"type": "job", "job_id": parsed.job_id}
        elif isinstance(parsed, NotifyAll):
            follows = {"type": "all_jobs"}
        elif isinstance(parsed, NotifyTeam):
            follows = {"type": "team", "team": parsed.team}
        elif isinstance(parsed, NotifyTpm):
            follows = {"type": "tpm", "family": parsed.family}
            if parsed.threshold_pct is not None:
                follows["threshold_pct"] = parsed.threshold_pct
        sub = await client.create_subscription(
            destination={"type": "slack", "channel": destination},
            follows=follows,
            created_by=f"slack:{reply.user_id}",
        )
        await reply.send(blocks.subscribed(sub))

    @app.command("/notify")
    async def on_notify(ack: Any, body: dict[str, Any]) -> None:
        await command_flow(ack, body, parse_notify, run_notify, lambda _: None)

    # -- the one error handler ---------------------------------------------------------------------

    async def report_failure(exc: BaseException, reply: Reply) -> None:
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

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Failures inside bolt before our listener took over; answer them the same way.
        await report_failure(error, reply_for(body or {}, clock()))

    return app
