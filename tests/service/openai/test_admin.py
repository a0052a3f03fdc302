"""The admin Usage API client against the fake: pages, retries, a refused key, a lost page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.openai import OpenAIError, OpenAIProtocolError
from service.openai.admin import OpenAIAdminClient, OpenAIAdminKeyRefused, UsageBucket
from tests.fakes.fake_openai import ManualClock
from tests.service.openai.conftest import TEST_API_KEY, FakeOpenAIServer
from tests.service.usage_import.support import DAY, MINUTE, USAGE, PageFaults

NOW = 1_700_000_000  # the fake's clock
DAY0 = NOW - NOW % DAY - 2 * DAY  # two whole days before today


@pytest.fixture
def fake(fake_openai_server: FakeOpenAIServer) -> Iterator[PageFaults]:
    state = PageFaults(clock=ManualClock(start=NOW))
    previous = fake_openai_server.app.state.fake
    fake_openai_server.app.state.fake = state
    try:
        yield state
    finally:
        state.release_delays()
        fake_openai_server.app.state.fake = previous


@pytest.fixture
async def admin(
    fake_openai_server: FakeOpenAIServer, fake: PageFaults
) -> AsyncIterator[OpenAIAdminClient]:
    client = OpenAIAdminClient(
        base_url=fake_openai_server.base_url,
        api_key=TEST_API_KEY,
        # A page is 1,440 minute buckets the fake builds on the spot: on a loaded CI machine that
        # took over 5 s once, and the retry it caused broke the request count these tests read.
        timeout_seconds=30.0,
        max_retries=2,
        backoff_base_seconds=0.001,
    )
    async with client:
        yield client


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def _two_days(admin: OpenAIAdminClient) -> list[UsageBucket]:
    return [
        b
        async for b in admin.iter_completions_usage(
            start=_at(DAY0), end=_at(DAY0 + 2 * DAY), bucket_width="1m", group_by=("model",)
        )
    ]


async def test_admin_usage__follows_next_page_across_pages(
    admin: OpenAIAdminClient, fake: PageFaults
) -> None:
    fake.add_completions_usage(at=DAY0 + 30, model="gpt-4o", input_tokens=100, output_tokens=7)
    fake.add_completions_usage(
        at=DAY0 + DAY + 90, model="gpt-4o-mini", input_tokens=5, output_tokens=1, batch=True
    )

    buckets = await _two_days(admin)

    # 2,880 minute buckets at 1,440 a page: two requests, every minute once, oldest first.
    assert fake.request_counts[USAGE] == 2
    assert [b.start_time for b in buckets] == list(range(DAY0, DAY0 + 2 * DAY, MINUTE))
    (first,) = buckets[0].results
    assert (first.model, first.input_tokens, first.output_tokens) == ("gpt-4o", 100, 7)
    assert type(first.input_tokens) is int and first.num_model_requests == 1  # counts, not money
    (later,) = buckets[DAY // MINUTE + 1].results
    assert (later.model, later.input_tokens) == ("gpt-4o-mini", 5)


async def test_admin_usage__reads_cache_write_tokens(
    admin: OpenAIAdminClient, fake: PageFaults
) -> None:
    fake.add_completions_usage(
        at=DAY0 + 30,
        model="gpt-5.6-sol",
        input_tokens=5000,
        input_cached_tokens=1800,
        input_cache_write_tokens=200,
        output_tokens=1000,
    )
    fake.add_completions_usage(at=DAY0 + 90, model="gpt-4o", input_tokens=100, output_tokens=7)

    buckets = await _two_days(admin)

    (written,) = buckets[0].results
    assert (written.input_tokens, written.input_cached_tokens) == (5000, 1800)
    assert written.input_cache_write_tokens == 200
    (none,) = buckets[1].results
    assert (none.model, none.input_cache_write_tokens) == ("gpt-4o", 0)


class RequiredFieldsOnly(PageFaults):
    """Answers usage results with only what the spec requires of UsageCompletionsResult (object,
    input_tokens, output_tokens, num_model_requests) and the group fields: the cached, cache-write
    and per-modality counts are optional, and an answer may leave them out."""

    async def dispatch(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, endpoint: str
    ) -> None:
        start: dict[str, Any] = {}
        body = bytearray()

        async def trimmed(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            payload = json.loads(body)
            for bucket in payload.get("data", []):
                for result in bucket["results"]:
                    self.trim(result)
            data = json.dumps(payload).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", b"%d" % len(data))]})
            await send({"type": "http.response.body", "body": data})

        await super().dispatch(app, scope, receive, trimmed, endpoint=endpoint)

    def trim(self, result: dict[str, Any]) -> None:
        counts = [n for n in result if n.startswith(("input_", "output_"))]
        for name in set(counts) - {"input_tokens", "output_tokens"}:
            del result[name]


class WithoutOutputTokens(RequiredFieldsOnly):
    """Answers usage results lacking `output_tokens`, which the spec requires."""

    def trim(self, result: dict[str, Any]) -> None:
        del result["output_tokens"]


async def test_admin_usage__absent_cached_and_cache_write_counts_read_as_zero(
    fake_openai_server: FakeOpenAIServer, admin: OpenAIAdminClient
) -> None:
    state = RequiredFieldsOnly(clock=ManualClock(start=NOW))
    previous = fake_openai_server.app.state.fake
    fake_openai_server.app.state.fake = state
    try:
        state.add_completions_usage(
            at=DAY0 + 30,
            model="gpt-5.6-sol",
            input_tokens=5000,
            input_cached_tokens=1800,
            input_cache_write_tokens=200,
            output_tokens=1000,
        )
        buckets = await _two_days(admin)
    finally:
        fake_openai_server.app.state.fake = previous

    (result,) = buckets[0].results
    assert (result.input_tokens, result.output_tokens) == (5000, 1000)
    assert (result.input_cached_tokens, result.input_cache_write_tokens) == (0, 0)


async def test_admin_usage__a_result_without_a_required_count_is_a_protocol_error(
    fake_openai_server: FakeOpenAIServer, admin: OpenAIAdminClient
) -> None:
    state = WithoutOutputTokens(clock=ManualClock(start=NOW))
    previous = fake_openai_server.app.state.fake
    fake_openai_server.app.state.fake = state
    try:
        state.add_completions_usage(
            at=DAY0 + 30, model="gpt-4o", input_tokens=5000, output_tokens=1000
        )
        # Read as zero, this traffic would vanish from the reconciliation without a word.
        with pytest.raises(OpenAIProtocolError, match="output_tokens"):
            await _two_days(admin)
    finally:
        fake_openai_server.app.state.fake = previous


async def test_admin_usage__a_refused_key_is_a_setup_error_asked_once(
    admin: OpenAIAdminClient, fake: PageFaults
) -> None:
    fake.api_key = "sk-admin-the-right-one"
    with pytest.raises(OpenAIAdminKeyRefused, match="RATECARD_OPENAI_ADMIN_KEY"):
        await _two_days(admin)
    assert fake.request_counts[USAGE] == 1  # 401 is never retried


async def test_admin_usage__a_key_without_the_usage_permission_is_refused(
    admin: OpenAIAdminClient, fake: PageFaults
) -> None:
    fake.inject_fault("error", path="/v1/organization/usage/completions", status=403, times=5)
    with pytest.raises(OpenAIAdminKeyRefused, match="permission"):
        await _two_days(admin)
    assert fake.request_counts[USAGE] == 1


async def test_admin_usage__429_then_success(admin: OpenAIAdminClient, fake: PageFaults) -> None:
    fake.inject_fault("rate_limit", path="/v1/organization/usage/completions", retry_after_ms=1)
    assert len(await _two_days(admin)) == 2 * DAY // MINUTE
    assert fake.request_counts[USAGE] == 3  # the refused first page again, then the second


async def test_admin_usage__5xx_then_success(admin: OpenAIAdminClient, fake: PageFaults) -> None:
    fake.inject_fault("server_error", path="/v1/organization/usage/completions", status=503)
    fake.fail_later_pages = 1  # and the second page fails once too
    assert len(await _two_days(admin)) == 2 * DAY // MINUTE
    assert fake.request_counts[USAGE] == 4  # each page failed once and was asked again


async def test_admin_usage__a_later_page_that_keeps_failing_raises_after_the_first(
    admin: OpenAIAdminClient, fake: PageFaults
) -> None:
    fake.fail_later_pages = 100
    seen: list[UsageBucket] = []
    with pytest.raises(OpenAIError):
        async for bucket in admin.iter_completions_usage(
            start=_at(DAY0), end=_at(DAY0 + 2 * DAY), bucket_width="1m"
        ):
            seen.append(bucket)
    # The caller sees how far it got and that the rest is missing: never a silent short answer.
    assert len(seen) == DAY // MINUTE


async def test_admin_usage__a_truncated_page_is_a_protocol_error(
    admin: OpenAIAdminClient, fake: PageFaults
) -> None:
    fake.inject_fault("malformed", path="/v1/organization/usage/completions")
    with pytest.raises(OpenAIProtocolError):
        await _two_days(admin)
