"""`ratecard bot --socket-mode`: the bot dials out to Slack over a WebSocket, no public URL needed.

The real command runs in its own process against the test service and the fake Slack, which speaks
Socket Mode as Slack does: ``apps.connections.open`` with the app-level token, a WebSocket that says
``hello``, envelopes pushed down it, acknowledgements sent back up. Nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.bot.harness import BOT_TOKEN, TEAM_ID, ServerThread, SlackStack, texts
from tests.fakes.slack_api import FakeSlackState, SocketAck, create_fake_slack_app

APP_TOKEN = "xapp-1-A0FAKEAPP-1234567890-ratecard"
ACK_DEADLINE = 3.0  # seconds Slack waits for an acknowledgement before telling the user it failed
REPO = Path(__file__).resolve().parents[2]
ESTIMATE = "train gpt-3.5-turbo tokens=100k epochs=3 as_of=2023-09-01"  # the seed's $2.40


@dataclass
class SocketBot:
    """`ratecard bot --socket-mode` running in a subprocess, connected to the fake Slack."""

    process: subprocess.Popen[bytes]
    stack: SlackStack
    stderr_path: Path

    @property
    def slack(self) -> FakeSlackState:
        return self.stack.slack_state

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def slash_command(self, text: str, *, command: str = "/estimate") -> tuple[str, str]:
        """Push a slash command down the WebSocket; returns (envelope_id, response_url)."""
        response_url = self.stack.extras.response_url(self.stack.slack.url)
        envelope_id = self.slack.push_slash_command(
            {
                "token": "deprecated-verification-token",
                "team_id": TEAM_ID,
                "team_domain": "acme",
                "channel_id": "C0LAUNCH",
                "channel_name": "ml",
                "user_id": "U0ALICE",
                "user_name": "alice",
                "command": command,
                "text": text,
                "api_app_id": self.slack.app_id,
                "is_enterprise_install": "false",
                "response_url": response_url,
                "trigger_id": f"{time.time_ns()}.trigger",
            }
        )
        return envelope_id, response_url

    def ack(self, envelope_id: str) -> SocketAck:
        """The acknowledgement, which must come within Slack's deadline of the push."""
        ack = self.slack.wait_for_ack(envelope_id, timeout=ACK_DEADLINE + 2)
        waited = ack.received_at - self.slack.envelope(envelope_id).pushed_at
        assert waited < ACK_DEADLINE, f"acknowledged after {waited:.2f}s; Slack gives up at 3s"
        return ack

    def interrupt(self, timeout: float = 15, signum: int = signal.SIGINT) -> int:
        """Ctrl-C (or another signal: SIGTERM, as `docker stop` sends), as a person stops it; the
        exit code (killed if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"the bot did not stop within {timeout}s of Ctrl-C") from None


def bot_key(stack: SlackStack, name: str = "slack-bot-socket-mode") -> str:
    with stack.api() as api:
        response = api.post("/v1/keys", json={"name": name, "scopes": ["read", "estimate"]})
        assert response.status_code == 201, response.text
        secret: str = response.json()["secret"]
        return secret


def start_bot(
    stack: SlackStack, tmp_path: Path, *, app_token: str, slack_api_url: str | None = None
) -> SocketBot:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RATECARD_")}
    env = {
        **clean,
        "RATECARD_SERVICE_URL": stack.service.url,
        "RATECARD_SERVICE_API_KEY": bot_key(stack),
        "RATECARD_SLACK_API_URL": slack_api_url or f"{stack.slack.url}/api/",
        "RATECARD_SLACK_BOT_TOKEN": BOT_TOKEN,
        "RATECARD_SLACK_APP_TOKEN": app_token,
        "RATECARD_UPLOAD_DIR": str(tmp_path / "bot-uploads"),
    }
    stderr_path = tmp_path / "bot.stderr"
    with stderr_path.open("wb") as stderr:  # a file, not a pipe: a chatty bot can never block
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "bot", "--socket-mode"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
        )
    return SocketBot(process, stack, stderr_path)


def wait_until_connected(bot: SocketBot, *, opened: int = 1, timeout: float = 30) -> int:
    """The id of the bot's newest connection, once `opened` connections have been made."""
    deadline = time.monotonic() + timeout
    while True:
        if bot.process.poll() is not None:
            raise AssertionError(f"the bot exited ({bot.process.returncode}):\n{bot.stderr}")
        try:
            return bot.slack.wait_for_socket(opened=opened, timeout=0.2)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot never connected:\n{bot.stderr}") from None


def wait_for(condition: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def wait_for_answer(bot: SocketBot, response_url: str) -> dict[str, Any]:
    wait_for(lambda: bot.stack.responses(response_url), "the bot never answered", timeout=30)
    return bot.stack.last_response(response_url)


def connections_opened(slack: FakeSlackState) -> list[dict[str, Any]]:
    with slack._lock:
        return [c.response for c in slack.calls if c.method == "apps.connections.open"]


@pytest.fixture
def socket_bot(stack: SlackStack, tmp_path: Path) -> Iterator[SocketBot]:
    stack.slack_state.app_token = APP_TOKEN
    bot = start_bot(stack, tmp_path, app_token=APP_TOKEN)
    try:
        wait_until_connected(bot)
        yield bot
    finally:
        if bot.process.poll() is None:
            bot.process.kill()
            bot.process.wait(timeout=10)


def test_socket_mode__estimate_is_acked_and_answered(socket_bot: SocketBot) -> None:
    [opened] = connections_opened(socket_bot.slack)
    assert opened["ok"] is True and opened["url"].startswith("ws://127.0.0.1:")

    envelope_id, response_url = socket_bot.slash_command(ESTIMATE)

    ack = socket_bot.ack(envelope_id)
    assert ack.payload is None  # a bare ack: the estimate follows through the response_url
    answer = wait_for_answer(socket_bot, response_url)
    assert "$2.40" in answer["text"]
    assert socket_bot.slack.acks_for(envelope_id) == [ack]  # acknowledged once, not per step
    with socket_bot.stack.api() as api:
        [stored] = api.get("/v1/estimates").json()["items"]
    assert stored["requested_by"] == "slack-bot-socket-mode"


def test_socket_mode__help_comes_back_in_the_ack_payload(socket_bot: SocketBot) -> None:
    envelope_id, response_url = socket_bot.slash_command("help")

    ack = socket_bot.ack(envelope_id)

    assert ack.payload is not None
    assert ack.payload["response_type"] == "ephemeral"
    assert "*/estimate*" in texts(ack.payload)
    assert socket_bot.stack.responses(response_url) == []  # the ack was the whole answer


def test_socket_mode__reconnects_when_slack_refreshes_the_connection(
    socket_bot: SocketBot,
) -> None:
    first = wait_until_connected(socket_bot)
    socket_bot.slack.push_disconnect("refresh_requested", connection=first)

    second = wait_until_connected(socket_bot, opened=2, timeout=15)
    wait_for(lambda: socket_bot.slack.open_sockets == 1, "the old connection was never closed")
    assert second != first and len(connections_opened(socket_bot.slack)) == 2
    assert socket_bot.slack.socket_close_codes[first] == 1000  # closed by the bot, not dropped

    envelope_id, response_url = socket_bot.slash_command(ESTIMATE)
    assert socket_bot.ack(envelope_id).connection == second
    assert "$2.40" in wait_for_answer(socket_bot, response_url)["text"]


def test_socket_mode__ctrl_c_stops_the_bot_promptly(socket_bot: SocketBot) -> None:
    started = time.monotonic()
    assert socket_bot.interrupt() == 130
    assert time.monotonic() - started < 10
    assert "ratecard: interrupted" in socket_bot.stderr
    wait_for(lambda: socket_bot.slack.open_sockets == 0, "the WebSocket stayed open")


def test_socket_mode__ctrl_c_closes_the_websocket_cleanly(socket_bot: SocketBot) -> None:
    connection = wait_until_connected(socket_bot)
    assert socket_bot.interrupt() == 130
    wait_for(lambda: socket_bot.slack.open_sockets == 0, "the WebSocket stayed open")
    assert "Traceback" not in socket_bot.stderr and "Unclosed" not in socket_bot.stderr
    assert socket_bot.slack.socket_close_codes[connection] == 1000


def test_socket_mode__sigterm_disconnects_cleanly_and_exits_0(socket_bot: SocketBot) -> None:
    connection = wait_until_connected(socket_bot)
    assert socket_bot.interrupt(signum=signal.SIGTERM) == 0
    wait_for(lambda: socket_bot.slack.open_sockets == 0, "the WebSocket stayed open")
    assert "Traceback" not in socket_bot.stderr and "Unclosed" not in socket_bot.stderr
    assert "will be ignored" not in socket_bot.stderr  # bolt's warning about a doubled token
    assert socket_bot.slack.socket_close_codes[connection] == 1000


def test_socket_mode__without_an_app_token_refuses_to_start() -> None:
    from bot.mount import run_socket_mode
    from service.settings import get_settings

    slack_state = FakeSlackState(token=BOT_TOKEN, app_token=APP_TOKEN)
    slack = ServerThread(create_fake_slack_app(slack_state)).start()
    try:
        settings = get_settings(
            service_url="http://127.0.0.1:9",
            service_api_key="rc_unused_0123456789abcdef",
            slack_api_url=f"{slack.url}/api/",
            slack_bot_token=BOT_TOKEN,
            slack_app_token=None,
        )
        with pytest.raises(
            ValueError, match=r"RATECARD_SLACK_APP_TOKEN \(xapp-\.\.\.\) is required"
        ):
            asyncio.run(asyncio.wait_for(run_socket_mode(settings), timeout=10))
    finally:
        slack.stop()
    assert slack_state.calls == []  # refused before dialling Slack


def test_socket_mode__refused_app_token_exits_with_a_clear_error(
    stack: SlackStack, tmp_path: Path
) -> None:
    stack.slack_state.app_token = APP_TOKEN
    bot = start_bot(stack, tmp_path, app_token="xapp-1-A0FAKEAPP-0-revoked")
    try:
        wait_for(
            lambda: connections_opened(stack.slack_state) or bot.process.poll() is not None,
            "the bot never asked Slack for a connection",
            timeout=30,
        )
        code: int | None = bot.process.wait(timeout=3)  # from the refusal, not from the start
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if bot.process.poll() is None:
            bot.process.kill()
            bot.process.wait(timeout=10)
    refusals = connections_opened(stack.slack_state)
    assert refusals and all(r == {"ok": False, "error": "invalid_auth"} for r in refusals)
    assert stack.slack_state.socket_connections == 0
    assert code not in (None, 0), f"still running 3 s after Slack refused its token:\n{bot.stderr}"
    assert "invalid_auth" in bot.stderr and "RATECARD_SLACK_APP_TOKEN" in bot.stderr
    assert "Traceback" not in bot.stderr


@contextmanager
def not_slack(answer: Callable[[], Response]) -> Iterator[tuple[str, list[str]]]:
    """A loopback server standing where Slack should be, giving `answer` to every request:
    (its API base URL, the paths asked for)."""
    asked: list[str] = []

    async def anything(request: Request) -> Response:
        asked.append(request.url.path)
        return answer()

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    server = ServerThread(app).start()
    try:
        yield f"{server.url}/api/", asked
    finally:
        server.stop()


def test_socket_mode__slack_answering_an_error_page_exits_with_a_clear_error(
    stack: SlackStack, tmp_path: Path
) -> None:
    # An outage page or a proxy's, not Slack's JSON: said plainly, not a traceback.
    with not_slack(lambda: PlainTextResponse("upstream unavailable", 503)) as (url, asked):
        bot = start_bot(stack, tmp_path, app_token=APP_TOKEN, slack_api_url=url)
        try:
            code = bot.process.wait(timeout=30)
        finally:
            if bot.process.poll() is None:
                bot.process.kill()
                bot.process.wait(timeout=10)
    assert asked == ["/api/apps.connections.open"]
    assert code == 1, bot.stderr
    assert "would not open a Socket Mode connection (HTTP 503)" in bot.stderr
    assert "Traceback" not in bot.stderr


def test_socket_mode__sigterm_while_still_connecting_stops_it(
    stack: SlackStack, tmp_path: Path
) -> None:
    # Slack hands out a WebSocket address that cannot be reached (a firewall, say): slack_sdk
    # keeps retrying, and SIGTERM must still stop the bot.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"ws://127.0.0.1:{closed.getsockname()[1]}/link/"
    offer = {"ok": True, "url": nowhere}
    with not_slack(lambda: JSONResponse(offer)) as (url, asked):
        bot = start_bot(stack, tmp_path, app_token=APP_TOKEN, slack_api_url=url)
        wait_for(lambda: asked or bot.process.poll() is not None, "Slack was never asked", 30)
        time.sleep(0.5)  # now in slack_sdk's connect-and-retry loop
        assert bot.process.poll() is None, bot.stderr
        started = time.monotonic()
        assert bot.interrupt(signum=signal.SIGTERM) == 0, bot.stderr
    assert time.monotonic() - started < 10


async def _fake_socket_mode_session(root: str, slack: FakeSlackState) -> None:
    import aiohttp
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    web = AsyncWebClient(base_url=f"{root}/api/", timeout=10)
    for token, error in [
        ("xoxb-not-an-app-token", "not_allowed_token_type"),
        ("xapp-1-x", "invalid_auth"),
    ]:
        with pytest.raises(SlackApiError) as refused:
            await web.apps_connections_open(app_token=token)
        assert refused.value.response["error"] == error
    with pytest.raises(SlackApiError) as refused:
        await AsyncWebClient(token=APP_TOKEN, base_url=f"{root}/api/").chat_postMessage(
            channel="C0LAUNCH", text="hi"
        )
    assert refused.value.response["error"] == "not_allowed_token_type"
    url = (await web.apps_connections_open(app_token=APP_TOKEN))["url"]
    assert url.startswith(f"ws://{root.removeprefix('http://')}/link/?ticket=")

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.ws_connect(url) as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and hello["num_connections"] == 1
            assert hello["connection_info"] == {"app_id": slack.app_id}

            pushed = await http.post(
                f"{root}/_fake/socket_mode/envelopes",
                json={"type": "slash_commands", "payload": {"command": "/estimate"}},
            )
            envelope_id = (await pushed.json())["envelope_id"]
            assert await ws.receive_json(timeout=5) == {
                "envelope_id": envelope_id,
                "payload": {"command": "/estimate"},
                "type": "slash_commands",
                "accepts_response_payload": True,
            }
            await ws.send_json({"envelope_id": envelope_id, "payload": {"text": "ok"}})
            ack = await asyncio.to_thread(slack.wait_for_ack, envelope_id, timeout=5)
            assert ack.payload == {"text": "ok"}

            slack.close_socket()  # Slack's side
            closing = await ws.receive(timeout=5)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
        with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
            await http.ws_connect(url)  # a ticket opens one connection
        assert reused.value.status == 403


def test_fake_slack__speaks_socket_mode_like_slack() -> None:
    slack_state = FakeSlackState(token=BOT_TOKEN, app_token=APP_TOKEN)
    slack = ServerThread(create_fake_slack_app(slack_state)).start()
    try:
        asyncio.run(asyncio.wait_for(_fake_socket_mode_session(slack.url, slack_state), 30))
    finally:
        slack.stop()
    assert slack_state.socket_connections == 1 and slack_state.open_sockets == 0
