"""The fake OpenAI with one more fault: fail the requests that ask for a later page."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.fake_openai import FakeOpenAIError, FakeOpenAIState

USAGE = "GET /v1/organization/usage/completions"
MINUTE, HOUR, DAY = 60, 3600, 86_400


class PageFaults(FakeOpenAIState):
    """While ``fail_later_pages`` > 0, a request carrying a ``page`` cursor gets a 500 (and the
    count goes down): the first page of a query arrives, a later one does not."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.fail_later_pages = 0

    async def dispatch(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, endpoint: str
    ) -> None:
        if self.fail_later_pages and b"page=" in scope["query_string"]:
            self.fail_later_pages -= 1
            error = FakeOpenAIError(500, "The server had an error.", type="server_error")
            await error.response()(scope, receive, send)
            return
        await super().dispatch(app, scope, receive, send, endpoint=endpoint)
