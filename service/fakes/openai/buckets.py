"""Time buckets and page cursors shared by the admin Usage and Costs APIs.

A query covers ``[start_time, end_time)`` (``end_time`` defaults to now) in buckets aligned
to their width in UTC (a ``1d`` bucket starts at midnight), oldest first; a page holds at most
``limit`` buckets and ``next_page`` is the opaque cursor of the next one (``page=`` asks for
it). Empty buckets are listed with ``results: []``. A result names only the ``group_by``
fields; the others are null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request

from service.fakes.openai.errors import FakeOpenAIError, int_param

__all__ = ["BucketQuery", "grouped", "list_param", "page_of_buckets", "parse_bucket_query"]

BUCKET_SECONDS = {"1m": 60, "1h": 3600, "1d": 86_400}
_CURSOR_PREFIX = "page_"

_R = TypeVar("_R")


@dataclass(frozen=True)
class BucketQuery:
    start_time: int
    end_time: int
    width: int
    limit: int
    page: int | None  # the bucket start the page begins at
    group_by: tuple[str, ...]


def list_param(request: Request, name: str) -> list[str]:
    """An array query parameter, as ``name=a&name=b`` or ``name[]=a&name[]=b``."""
    return [v for k, v in request.query_params.multi_items() if k in (name, f"{name}[]")]


def parse_bucket_query(
    request: Request,
    *,
    now: float,
    widths: dict[str, tuple[int, int]],  # width -> (default limit, max limit)
    groupable: frozenset[str],
) -> BucketQuery:
    raw_start = request.query_params.get("start_time")
    if raw_start is None:
        raise FakeOpenAIError(
            400,
            "Missing required parameter: 'start_time'.",
            param="start_time",
            code="missing_required_parameter",
        )
    start_time = int_param(request, "start_time", 0)
    end_time = int_param(request, "end_time", int(now))
    if end_time <= start_time:
        raise FakeOpenAIError(400, "end_time must be after start_time", param="end_time")
    width_name = request.query_params.get("bucket_width", "1d")
    if width_name not in widths:
        raise FakeOpenAIError(
            400,
            f"Invalid bucket_width: {width_name}, expected one of {sorted(widths)}",
            param="bucket_width",
        )
    default_limit, max_limit = widths[width_name]
    limit = int_param(request, "limit", default_limit)
    if not 1 <= limit <= max_limit:
        raise FakeOpenAIError(400, f"limit must be between 1 and {max_limit}", param="limit")
    group_by = tuple(list_param(request, "group_by"))
    unknown = set(group_by) - groupable
    if unknown:
        raise FakeOpenAIError(
            400, f"Invalid group_by: {', '.join(sorted(unknown))}", param="group_by"
        )
    return BucketQuery(
        start_time=start_time,
        end_time=end_time,
        width=BUCKET_SECONDS[width_name],
        limit=limit,
        page=_parse_cursor(request.query_params.get("page")),
        group_by=group_by,
    )


def _parse_cursor(raw: str | None) -> int | None:
    if raw is None:
        return None
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not digits.isdigit():
        raise FakeOpenAIError(400, f"Invalid page cursor: {raw}", param="page")
    return int(digits)


def page_of_buckets(
    query: BucketQuery,
    records: Sequence[_R],
    *,
    at: Callable[[_R], int],
    results: Callable[[Iterable[_R]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """The page of buckets the query asks for, each holding ``results(records in it)``."""
    first = query.start_time - query.start_time % query.width
    begin = first if query.page is None else query.page
    if begin < first or begin >= query.end_time or (begin - first) % query.width:
        raise FakeOpenAIError(400, "Invalid page cursor for this query", param="page")
    data: list[dict[str, Any]] = []
    start = begin
    while start < query.end_time and len(data) < query.limit:
        end = start + query.width
        inside = [r for r in records if start <= at(r) < end]
        data.append(
            {"object": "bucket", "start_time": start, "end_time": end, "results": results(inside)}
        )
        start = end
    has_more = start < query.end_time
    return {
        "object": "page",
        "data": data,
        "has_more": has_more,
        "next_page": f"{_CURSOR_PREFIX}{start}" if has_more else None,
    }


def grouped(
    records: Iterable[_R], group_by: Sequence[str], key: Callable[[_R, str], Any]
) -> dict[tuple[Any, ...], list[_R]]:
    """Records by their values of the ``group_by`` fields (one group when none)."""
    groups: dict[tuple[Any, ...], list[_R]] = {}
    for record in records:
        groups.setdefault(tuple(key(record, f) for f in group_by), []).append(record)
    return groups
