"""The fake OpenAI API served over real HTTP on a loopback port, for client tests.

One uvicorn server per session (starting one costs ~100 ms); every test gets a fresh
``FakeOpenAIState`` swapped into ``app.state.fake``, driven by a ``ManualClock``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from service.openai import OpenAIClient
from tests.fakes.fake_openai import (
    FakeOpenAIState,
    ManualClock,
    approximate_text_tokens,
    create_fake_openai_app,
)

TEST_API_KEY = "sk-test-0123456789abcdef-SECRET"


@dataclass
class FakeOpenAIServer:
    app: FastAPI
    root_url: str

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    app = create_fake_openai_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield FakeOpenAIServer(app=app, root_url=f"http://127.0.0.1:{port}")
    finally:
        app.state.fake.release_delays()
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake_openai(
    fake_openai_server: FakeOpenAIServer, clock: ManualClock
) -> Iterator[FakeOpenAIState]:
    # chars/4 token counting keeps these tests independent of the tokenizer files.
    state = FakeOpenAIState(clock=clock, step_seconds=10, count_text_tokens=approximate_text_tokens)
    fake_openai_server.app.state.fake = state
    try:
        yield state
    finally:
        # Lets "late_response"/"delay" handlers still sleeping in the server finish now.
        state.release_delays()


MakeClient = Callable[..., OpenAIClient]


@pytest.fixture
async def make_client(
    fake_openai_server: FakeOpenAIServer, fake_openai: FakeOpenAIState
) -> AsyncIterator[MakeClient]:
    clients: list[OpenAIClient] = []

    def make(**overrides: Any) -> OpenAIClient:
        options: dict[str, Any] = {
            "base_url": fake_openai_server.base_url,
            "api_key": TEST_API_KEY,
            "timeout_seconds": 5.0,
            "max_retries": 4,
            # Tiny backoff: retries without a server hint must not slow the suite.
            "backoff_base_seconds": 0.001,
        }
        options.update(overrides)
        client = OpenAIClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def openai_client(make_client: MakeClient) -> OpenAIClient:
    return make_client()
