"""`ratecard bot`: the bot in its own process, a REST client of a service somewhere else."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.bot.harness import (
    BOT_TOKEN,
    SIGNING_SECRET,
    ServerThread,
    SlackStack,
    signed_headers,
    texts,
)


@dataclass
class Standalone:
    url: str
    stack: SlackStack

    def command(self, text: str) -> tuple[httpx.Response, str]:
        response_url = self.stack.extras.response_url(self.stack.slack.url)
        form = {
            "command": "/estimate",
            "text": text,
            "user_id": "U0ALICE",
            "channel_id": "C0LAUNCH",
            "team_id": "T0FAKE",
            "response_url": response_url,
            "trigger_id": "1.2",
        }
        body = urlencode(form).encode()
        return httpx.post(
            f"{self.url}/slack/events", content=body, headers=signed_headers(body)
        ), response_url


def bot_key(stack: SlackStack) -> str:
    with stack.api() as api:
        response = api.post(
            "/v1/keys",
            json={"name": "slack-bot-standalone", "scopes": ["read", "estimate", "launch"]},
        )
        secret: str = response.json()["secret"]
        return secret


def standalone_settings(stack: SlackStack, service_url: str, key: str) -> Any:
    from service.settings import get_settings

    return get_settings(
        service_url=service_url,
        service_api_key=key,
        slack_api_url=f"{stack.slack.url}/api/",
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
    )


def wait_for_answer(stack: SlackStack, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while not stack.responses(url):
        assert time.monotonic() < deadline, "the standalone bot never answered"
        time.sleep(0.02)
    return stack.last_response(url)


@pytest.fixture
def standalone(stack: SlackStack) -> Iterator[Standalone]:
    from bot.mount import build_bot_http_app

    server = ServerThread(
        build_bot_http_app(standalone_settings(stack, stack.service.url, bot_key(stack)))
    ).start()
    try:
        yield Standalone(server.url, stack)
    finally:
        server.stop()


def test_bot_process__answers_slack_through_the_service_rest_api(standalone: Standalone) -> None:
    assert httpx.get(f"{standalone.url}/healthz").json() == {"status": "ok"}
    ack, url = standalone.command("train gpt-3.5-turbo tokens=100k epochs=3 as_of=2023-09-01")
    assert ack.status_code == 200
    assert "$2.40" in wait_for_answer(standalone.stack, url)["text"]
    with standalone.stack.api() as api:
        [stored] = api.get("/v1/estimates").json()["items"]
    assert stored["requested_by"] == "slack-bot-standalone"


def test_bot_process__refuses_unsigned_requests(standalone: Standalone) -> None:
    response = httpx.post(
        f"{standalone.url}/slack/events", content=b"command=%2Festimate&text=help"
    )
    assert response.status_code == 401


def test_bot_process__service_down_is_said_plainly(stack: SlackStack) -> None:
    from bot.mount import build_bot_http_app

    closed = ServerThread(None)  # a bound port nothing listens on
    closed.sock.close()
    server = ServerThread(
        build_bot_http_app(standalone_settings(stack, closed.url, "rc_unused_0123456789abcdef"))
    ).start()
    try:
        _, url = Standalone(server.url, stack).command("train gpt-3.5-turbo tokens=1000")
        answer = wait_for_answer(stack, url)
    finally:
        server.stop()
    assert answer["response_type"] == "ephemeral"
    assert "ratecard is not answering properly" in texts(
        answer
    ) and "could not reach ratecard" in texts(answer)


def test_bot_process__wrong_api_key_is_explained(stack: SlackStack) -> None:
    from bot.mount import build_bot_http_app

    settings = standalone_settings(stack, stack.service.url, "rc_not_a_real_key_0123456789")
    server = ServerThread(build_bot_http_app(settings)).start()
    try:
        _, url = Standalone(server.url, stack).command("train gpt-3.5-turbo tokens=1000")
        answer = wait_for_answer(stack, url)
    finally:
        server.stop()
    assert "The bot's API key was refused" in texts(answer) and "RATECARD_SERVICE_API_KEY" in texts(
        answer
    )


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RATECARD_")}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


def test_cli_bot__names_the_missing_settings() -> None:
    result = run_cli("bot")
    assert result.returncode == 2
    assert (
        "RATECARD_SLACK_BOT_TOKEN" in result.stderr and "RATECARD_SERVICE_API_KEY" in result.stderr
    )
    assert "RATECARD_SLACK_SIGNING_SECRET" in result.stderr
    socket_mode = run_cli(
        "bot", "--socket-mode", RATECARD_SLACK_BOT_TOKEN="xoxb-1", RATECARD_SERVICE_API_KEY="rc_x"
    )
    assert socket_mode.returncode == 2 and "RATECARD_SLACK_APP_TOKEN" in socket_mode.stderr
    assert "Traceback" not in result.stderr + socket_mode.stderr


def test_manifest__declares_the_commands_interactivity_and_only_the_needed_scopes() -> None:
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "bot" / "manifest.yaml").read_text()
    )
    commands = {c["command"]: c["url"] for c in manifest["features"]["slash_commands"]}
    assert commands == dict.fromkeys(
        ["/estimate", "/launch", "/notify", "/plan"], "https://YOUR-HOST/slack/events"
    )
    assert manifest["settings"]["interactivity"] == {
        "is_enabled": True,
        "request_url": "https://YOUR-HOST/slack/events",
    }
    assert manifest["oauth_config"]["scopes"]["bot"] == [
        "commands",
        "chat:write",
        "files:read",
        "im:write",
    ]
