"""The jobs feature's door to OpenAI: builds clients from settings and runs them from sync code.

Service functions and routes are synchronous (SQLModel sessions), the OpenAI client is async.
Each call runs on a fresh event loop in the calling worker thread, with a client created and
closed inside that loop, so nothing async leaks into the request threads or the watcher thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from service.jobs.errors import OpenAINotConfigured
from service.openai import OpenAIClient
from service.settings import Settings

T = TypeVar("T")


class OpenAIGateway:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def configured(self) -> bool:
        return self._settings.openai_api_key is not None and bool(self._settings.openai_base_url)

    def client(self) -> OpenAIClient:
        s = self._settings
        if s.openai_api_key is None:
            raise OpenAINotConfigured(
                "set RATECARD_OPENAI_API_KEY (and RATECARD_OPENAI_BASE_URL for a proxy "
                "or the fake) to launch and watch jobs",
                code="openai_not_configured",
            )
        return OpenAIClient(
            base_url=s.openai_base_url,
            api_key=s.openai_api_key.get_secret_value(),
            organization=s.openai_organization,
            project=s.openai_project,
            timeout_seconds=s.openai_timeout_seconds,
            max_retries=s.openai_max_retries,
            backoff_base_seconds=s.openai_backoff_seconds,
        )

    def run(self, work: Callable[[OpenAIClient], Awaitable[T]]) -> T:
        """Run ``work(client)`` to completion on a private event loop and return its result."""
        client = self.client()

        async def go() -> T:
            async with client:
                return await work(client)

        return asyncio.run(go())
