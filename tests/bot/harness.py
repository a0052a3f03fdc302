"""Test harness: the service with the Slack bot mounted, a fake Slack, all on loopback ports.

Requests reach the bot exactly as Slack sends them: form-encoded over HTTP, signed with
HMAC-SHA256 over ``v0:{timestamp}:{body}`` (implemented here independently of bot.signature, so a
mistake there cannot cancel out). Every ack is timed; the figures are printed at the end of the run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn

from tests.fakes.fake_openai import FakeOpenAIState, ManualClock, create_fake_openai_app
from tests.fakes.slack_api import FakeSlackState
from tests.fakes.slack_extras import FakeSlackExtras, create_fake_slack_with_extras

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-0000-ratecard"
TEAM_ID = "T0FAKE"
ADMIN_KEY = "rc_test_admin_key_for_the_slack_harness"
OPENAI_KEY = "sk-test-slack-harness-SECRET"
OPENAI_STEP_SECONDS = 60
ACK_TIMES: list[float] = []  # seconds, every signed request the harness sent
_REPORTED: list[bool] = []


def report_ack_times(write_line: Callable[[str], None]) -> None:
    """Once per run: how fast Slack heard back (p50, p99, max) over every request sent."""
    if not ACK_TIMES or _REPORTED:
        return
    _REPORTED.append(True)
    ordered = sorted(ACK_TIMES)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    write_line(
        f"Slack ack time over {len(ordered)} signed requests: p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms (Slack allows 3000 ms)"
    )


class ServerThread:
    """uvicorn on a socket bound before start, so the port is known (and never raced for)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=30)
        self.sock.close()


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


@dataclass
class SlackStack:
    """A running ratecard (service + mounted bot) and the fake Slack it talks to."""

    service: ServerThread
    slack: ServerThread
    slack_state: FakeSlackState
    extras: FakeSlackExtras
    app: Any
    openai: FakeOpenAIState | None = None
    clock: ManualClock | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def upload_training_file(self, content: bytes, name: str = "train.jsonl") -> str:
        """A file as if uploaded to OpenAI's Files API; returns its file-... id."""
        assert self.openai is not None, "this stack runs without the fake OpenAI"
        return self.openai.add_file(name, content)

    def run_jobs_to_the_end(self) -> None:
        """Let the fake OpenAI's jobs finish, then one watcher tick and one dispatcher pass."""
        from service.alerts.dispatcher import AlertDispatcher
        from service.jobs.watcher import JobWatcher

        assert self.clock is not None
        self.clock.advance(OPENAI_STEP_SECONDS * 4)
        watcher = JobWatcher(engine=self.app.state.engine, settings=self.app.state.settings)
        try:
            watcher.tick()
        finally:
            watcher.stop()
        with AlertDispatcher(self.app.state.engine, self.app.state.settings) as dispatcher:
            dispatcher.run_once()

    def api(self) -> httpx.Client:
        """The service's REST API with the admin key, to check what the bot did."""
        return httpx.Client(
            base_url=self.service.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )

    @property
    def events_url(self) -> str:
        return f"{self.service.url}/slack/events"

    @property
    def bot(self) -> Any:
        return self.app.state.slack_bot

    def post(self, body: bytes, headers: Mapping[str, str | bytes]) -> httpx.Response:
        started = time.perf_counter()
        response = self.http.post(self.events_url, content=body, headers=headers)
        ACK_TIMES.append(time.perf_counter() - started)
        return response

    def command(
        self,
        command: str,
        text: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0LAUNCH",
        wait: bool = True,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, str]:
        """A slash command as Slack posts it; returns the ack and the command's response_url."""
        response_url = self.extras.response_url(self.slack.url)
        form = {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "ml",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0RATECARD",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{time.time_ns()}.trigger",
        }
        body = urlencode(form).encode()
        response = self.post(body, {**signed_headers(body), **(extra_headers or {})})
        if wait:
            self.wait_idle()
        return response, response_url

    def click(
        self,
        message: dict[str, Any],
        action_id: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0LAUNCH",
        message_ts: str = "1700000000.000100",
        response_url: str | None = None,
        wait: bool = True,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, str, bytes]:
        """A block_actions click on `action_id` of `message`: (ack, response_url, body)."""
        button = next(
            e
            for b in message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        response_url = response_url or self.extras.response_url(self.slack.url)
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0RATECARD",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{time.time_ns()}.trigger",
            "channel": {"id": channel, "name": "ml"},
            "message": {
                "type": "message",
                "ts": message_ts,
                "text": message.get("text", ""),
                "blocks": message["blocks"],
            },
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "launch",
                    "type": "button",
                    "value": button["value"],
                    "text": button["text"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        response = self.post(body, {**signed_headers(body), **(extra_headers or {})})
        if wait:
            self.wait_idle()
        return response, response_url, body

    def wait_idle(self, timeout: float = 60) -> None:
        """Until the bot's after-ack work is done (it was registered before the ack was sent)."""
        deadline = time.monotonic() + timeout
        while self.bot.background.pending:
            if time.monotonic() > deadline:
                raise AssertionError("the bot's background work did not finish")
            time.sleep(0.01)

    def responses(self, response_url: str) -> list[dict[str, Any]]:
        return self.extras.responses_to(response_url)

    def last_response(self, response_url: str) -> dict[str, Any]:
        found = self.responses(response_url)
        assert found, f"nothing was posted to {response_url}"
        return found[-1]


@contextmanager
def running_stack(
    database_url: str,
    tmp_path: Any,
    *,
    configure: Callable[[dict[str, Any]], None] | None = None,
    with_openai: bool = False,
) -> Iterator[SlackStack]:
    """`ratecard serve`'s composition (create_app + mount_slack_if_configured) on loopback."""
    from service.app import create_app
    from service.auth.service import create_key
    from service.clock import today_utc
    from service.commands import mount_slack_if_configured
    from service.db import session_scope
    from service.settings import get_settings

    slack_state = FakeSlackState(token=BOT_TOKEN)
    extras = FakeSlackExtras(token=BOT_TOKEN)
    slack = ServerThread(create_fake_slack_with_extras(slack_state, extras)).start()
    service: ServerThread | None = None
    openai_server: ServerThread | None = None
    openai_state: FakeOpenAIState | None = None
    clock: ManualClock | None = None
    try:
        overrides: dict[str, Any] = {
            "database_url": database_url,
            "upload_dir": tmp_path / "uploads",
            "run_watcher": False,
            "slack_api_url": f"{slack.url}/api/",
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "host": "127.0.0.1",
        }
        if with_openai:
            # The fake's clock starts at the real time so prices in force at launch and at the
            # job's creation agree; it moves only when a test advances it.
            clock = ManualClock(start=time.time())
            openai_state = FakeOpenAIState(
                clock=clock, step_seconds=OPENAI_STEP_SECONDS, api_key=OPENAI_KEY
            )
            openai_app = create_fake_openai_app(openai_state)
            openai_server = ServerThread(openai_app).start()
            overrides.update(
                openai_base_url=f"{openai_server.url}/v1",
                openai_api_key=OPENAI_KEY,
                openai_max_retries=1,
                openai_backoff_seconds=0.001,
                run_dispatcher=False,
            )
        if configure is not None:
            configure(overrides)
        app_holder: dict[str, Any] = {}

        def build(port: int) -> Any:
            settings = get_settings(**overrides, port=port)
            app = create_app(settings, run_background=False)
            # A day OpenAI still accepts gpt-4o-mini jobs: the suite must not expire on
            # 2027-01-06 when fine-tuning ends (lifecycle tests pin other days themselves).
            app.dependency_overrides[today_utc] = lambda: date(2026, 12, 1)
            with session_scope(app.state.engine) as session:
                create_key(session, name="admin", scopes=["admin"], secret=ADMIN_KEY)
            mount_slack_if_configured(app, settings)
            app_holder["app"] = app
            return app

        service = ServerThread(None)
        service.app = build(service.port)
        service.start()
        yield SlackStack(
            service=service,
            slack=slack,
            slack_state=slack_state,
            extras=extras,
            app=app_holder["app"],
            openai=openai_state,
            clock=clock,
        )
    finally:
        if service is not None:
            service.stop()
        if openai_server is not None:
            assert openai_state is not None
            openai_state.release_delays()
            openai_server.stop()
        slack.stop()


def texts(message: dict[str, Any]) -> str:
    """Everything a person would read in a message: fallback text and every block's text."""
    parts = [str(message.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts)
