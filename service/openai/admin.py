"""OpenAI's organisation Usage and Costs APIs, read with an admin key.

Both answer pages of time buckets (``object: page``, ``data``, ``has_more``, ``next_page``);
the client follows ``next_page`` until ``has_more`` is false. The retry policy is the files and
fine-tuning client's. A key that may not read them (401, 403) is a setup error that waiting
does not fix, so it is raised at once as :class:`OpenAIAdminKeyRefused`, never retried.
Amounts are parsed from the JSON as Decimal: a cost never passes through a float.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from service.openai.client import OpenAIClient
from service.openai.errors import (
    OpenAIAuthError,
    OpenAIError,
    OpenAIProtocolError,
    OpenAIRequestRejected,
)

UsageBucketWidth = Literal["1m", "1h", "1d"]
# The API's page sizes: it refuses more buckets than these per request.
MAX_BUCKETS = {"1m": 1440, "1h": 168, "1d": 31}
MAX_COST_BUCKETS = 180


class OpenAIAdminKeyRefused(OpenAIError):
    """The admin key is missing a permission or is not an admin key: a setup problem."""


class CompletionsUsage(BaseModel):
    # The spec requires the token and request counts; a result without them is a protocol
    # error, not zero traffic (zero would reconcile a bill against usage that was never read).
    object: Literal["organization.usage.completions.result"]
    input_tokens: int
    input_cached_tokens: int = 0
    input_cache_write_tokens: int = 0
    output_tokens: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None
    service_tier: str | None = None


class CostAmount(BaseModel):
    value: Decimal
    currency: str


class CostResult(BaseModel):
    object: Literal["organization.costs.result"]
    amount: CostAmount
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None


class UsageBucket(BaseModel):
    object: Literal["bucket"]
    start_time: int
    end_time: int
    results: list[CompletionsUsage]


class CostBucket(BaseModel):
    object: Literal["bucket"]
    start_time: int
    end_time: int
    results: list[CostResult]


class _UsagePage(BaseModel):
    object: Literal["page"]
    data: list[UsageBucket]
    has_more: bool
    next_page: str | None


class _CostPage(BaseModel):
    object: Literal["page"]
    data: list[CostBucket]
    has_more: bool
    next_page: str | None


_PageT = TypeVar("_PageT", _UsagePage, _CostPage)


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


class OpenAIAdminClient(OpenAIClient):
    """Reads ``/organization/usage/completions`` and ``/organization/costs``."""

    async def iter_completions_usage(
        self,
        *,
        start: datetime,
        end: datetime,
        bucket_width: UsageBucketWidth = "1h",
        group_by: Sequence[str] = ("model", "project_id", "batch", "service_tier"),
    ) -> AsyncIterator[UsageBucket]:
        """Every bucket from ``start`` (inclusive) to ``end`` (exclusive), page by page."""
        params: dict[str, str | int | list[str]] = {
            "start_time": _unix(start),
            "end_time": _unix(end),
            "bucket_width": bucket_width,
            "limit": MAX_BUCKETS[bucket_width],
            "group_by": list(group_by),
        }
        async for page in self._pages("organization/usage/completions", params, _UsagePage):
            for bucket in page.data:
                yield bucket

    async def iter_costs(
        self,
        *,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] = ("line_item", "project_id"),
    ) -> AsyncIterator[CostBucket]:
        """Every daily cost bucket from ``start`` (inclusive) to ``end`` (exclusive)."""
        params: dict[str, str | int | list[str]] = {
            "start_time": _unix(start),
            "end_time": _unix(end),
            "bucket_width": "1d",
            "limit": MAX_COST_BUCKETS,
            "group_by": list(group_by),
        }
        async for page in self._pages("organization/costs", params, _CostPage):
            for bucket in page.data:
                yield bucket

    async def _pages(
        self, path: str, params: dict[str, str | int | list[str]], model: type[_PageT]
    ) -> AsyncIterator[_PageT]:
        cursor: str | None = None
        while True:
            page = await self._admin_get(
                path, {**params, **({"page": cursor} if cursor else {})}, model
            )
            yield page
            if not page.has_more:
                return
            if not page.next_page or page.next_page == cursor:
                raise OpenAIProtocolError(f"/{path}: has_more without a new next_page cursor")
            cursor = page.next_page

    async def _admin_get(
        self, path: str, params: dict[str, str | int | list[str]], model: type[_PageT]
    ) -> _PageT:
        async def read(response: httpx.Response) -> bytes:
            return await response.aread()

        try:
            body = await self._call("GET", path, consume=read, params=params)
        except OpenAIAuthError as exc:
            raise OpenAIAdminKeyRefused(
                f"OpenAI refused the admin key for /{path} ({exc}): set RATECARD_OPENAI_ADMIN_KEY "
                "to an organization admin key (sk-admin-...) with read access to usage and costs"
            ) from exc
        except OpenAIRequestRejected as exc:
            if exc.status != 403:
                raise
            raise OpenAIAdminKeyRefused(
                f"the admin key may not read /{path} ({exc}): give it the usage and costs "
                "read permission in the OpenAI organization settings"
            ) from exc
        try:
            payload = json.loads(body, parse_float=Decimal)
            return model.model_validate(payload)
        except (ValueError, ValidationError) as exc:
            raise OpenAIProtocolError(f"GET /{path}: not a usage page: {exc}") from exc
