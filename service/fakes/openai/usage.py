"""The admin Usage API for completions (``GET /v1/organization/usage/completions``).

Usage is whatever tests seed with :meth:`UsageMixin.add_completions_usage`; the fake does not
serve completions itself. Buckets, pages and grouping follow :mod:`.buckets`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request

from service.fakes.openai.buckets import (
    grouped,
    list_param,
    page_of_buckets,
    parse_bucket_query,
)
from service.fakes.openai.core import StateCore
from service.fakes.openai.errors import FakeOpenAIError
from service.fakes.openai.records import CompletionsUsage

__all__ = ["UsageMixin", "add_routes"]

# Width -> (default limit, max limit), as documented for this endpoint.
_WIDTHS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
_GROUPABLE = frozenset({"project_id", "user_id", "api_key_id", "model", "batch", "service_tier"})


class UsageMixin(StateCore):
    def add_completions_usage(
        self,
        *,
        at: float,
        model: str,
        input_tokens: int,
        output_tokens: int,
        input_cached_tokens: int = 0,
        input_cache_write_tokens: int = 0,
        num_model_requests: int = 1,
        project_id: str | None = None,
        user_id: str | None = None,
        api_key_id: str | None = None,
        batch: bool = False,
        service_tier: str | None = "default",
    ) -> CompletionsUsage:
        """Record completions usage at Unix time ``at`` (a test helper).

        As in the Usage API, ``input_tokens`` counts every input token: the cached and the
        cache-write tokens are parts of it."""
        if min(input_tokens, output_tokens, input_cached_tokens, input_cache_write_tokens) < 0:
            raise ValueError("token counts must not be negative")
        if input_cached_tokens + input_cache_write_tokens > input_tokens:
            raise ValueError("cached and cache-write tokens are parts of input_tokens")
        record = CompletionsUsage(
            at=int(at),
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            input_cached_tokens=input_cached_tokens,
            input_cache_write_tokens=input_cache_write_tokens,
            num_model_requests=num_model_requests,
            project_id=project_id,
            user_id=user_id,
            api_key_id=api_key_id,
            batch=batch,
            service_tier=service_tier,
        )
        with self._lock:
            self._completions_usage.append(record)
        return record

    def completions_usage_records(self) -> list[CompletionsUsage]:
        with self._lock:
            return list(self._completions_usage)


def _completions_result(
    group_by: Sequence[str], key: tuple[Any, ...], records: list[CompletionsUsage]
) -> dict[str, Any]:
    named = dict(zip(group_by, key, strict=True))
    input_tokens = sum(r.input_tokens for r in records)
    cached = sum(r.input_cached_tokens for r in records)
    written = sum(r.input_cache_write_tokens for r in records)
    output_tokens = sum(r.output_tokens for r in records)
    # The fake's usage is all text. As the spec defines them, input_tokens includes the cached
    # and cache-write tokens; the uncached and per-modality input counts exclude both.
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "input_cached_tokens": cached,
        "input_cache_write_tokens": written,
        "input_uncached_tokens": input_tokens - cached - written,
        "output_tokens": output_tokens,
        "input_text_tokens": input_tokens - cached - written,
        "output_text_tokens": output_tokens,
        "input_cached_text_tokens": cached,
        "input_audio_tokens": 0,
        "input_cached_audio_tokens": 0,
        "output_audio_tokens": 0,
        "input_image_tokens": 0,
        "input_cached_image_tokens": 0,
        "output_image_tokens": 0,
        "num_model_requests": sum(r.num_model_requests for r in records),
        "project_id": named.get("project_id"),
        "user_id": named.get("user_id"),
        "api_key_id": named.get("api_key_id"),
        "model": named.get("model"),
        "batch": named.get("batch"),
        "service_tier": named.get("service_tier"),
    }


async def completions_usage(request: Request) -> dict[str, Any]:
    state: UsageMixin = request.app.state.fake
    query = parse_bucket_query(request, now=state.clock(), widths=_WIDTHS, groupable=_GROUPABLE)
    filters = {
        name: set(list_param(request, name))
        for name in ("project_ids", "user_ids", "api_key_ids", "models")
    }
    batch_raw = request.query_params.get("batch")
    if batch_raw not in (None, "true", "false"):
        raise FakeOpenAIError(400, f"Invalid 'batch': {batch_raw}", param="batch")

    def wanted(r: CompletionsUsage) -> bool:
        pairs = (
            ("project_ids", r.project_id),
            ("user_ids", r.user_id),
            ("api_key_ids", r.api_key_id),
            ("models", r.model),
        )
        if any(filters[name] and value not in filters[name] for name, value in pairs):
            return False
        return batch_raw is None or r.batch == (batch_raw == "true")

    records = [r for r in state.completions_usage_records() if wanted(r)]

    def results(inside: Iterable[CompletionsUsage]) -> list[dict[str, Any]]:
        groups = grouped(inside, query.group_by, lambda r, f: getattr(r, f))
        return [_completions_result(query.group_by, k, rs) for k, rs in groups.items()]

    return page_of_buckets(query, records, at=lambda r: r.at, results=results)


_ROUTES: tuple[tuple[str, str, Callable[..., Awaitable[Any]]], ...] = (
    ("GET", "/v1/organization/usage/completions", completions_usage),
)


def add_routes(app: FastAPI) -> None:
    for method, path, endpoint in _ROUTES:
        app.add_api_route(path, endpoint, methods=[method])
