"""The fake's admin Usage (completions) and Costs APIs: buckets, filters, grouping, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from tests.fakes.fake_openai import FakeOpenAIState, ManualClock, create_fake_openai_app

DAY = 86_400
MONDAY = 1_730_419_200  # 2024-11-01 00:00 UTC


@pytest.fixture
def state() -> FakeOpenAIState:
    return FakeOpenAIState(clock=ManualClock(start=MONDAY + 10 * DAY))


@pytest.fixture
async def http(state: FakeOpenAIState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_fake_openai_app(state))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://fake/v1/", headers={"Authorization": "Bearer k"}
    ) as client:
        yield client


def _seed_usage(state: FakeOpenAIState) -> None:
    state.add_completions_usage(
        at=MONDAY + 60,
        model="gpt-4o-mini",
        input_tokens=100,
        output_tokens=10,
        input_cached_tokens=40,
        project_id="proj_a",
    )
    state.add_completions_usage(
        at=MONDAY + 3600,
        model="gpt-4o",
        input_tokens=50,
        output_tokens=5,
        project_id="proj_b",
        batch=True,
    )
    state.add_completions_usage(
        at=MONDAY + 2 * DAY,
        model="gpt-4o-mini",
        input_tokens=7,
        output_tokens=1,
        project_id="proj_a",
    )


async def test_usage__day_buckets_sum_every_record_inside_them(
    http: httpx.AsyncClient, state: FakeOpenAIState
) -> None:
    _seed_usage(state)
    page = (
        await http.get(
            "organization/usage/completions",
            params={"start_time": MONDAY + 5, "end_time": MONDAY + 3 * DAY},
        )
    ).json()
    assert [b["start_time"] for b in page["data"]] == [MONDAY, MONDAY + DAY, MONDAY + 2 * DAY]
    first, empty, third = (b["results"] for b in page["data"])
    assert empty == []
    assert len(first) == 1 and first[0]["input_tokens"] == 150
    assert first[0]["input_cached_tokens"] == 40 and first[0]["input_uncached_tokens"] == 110
    assert first[0]["output_tokens"] == 15 and first[0]["num_model_requests"] == 2
    assert first[0]["model"] is None and first[0]["project_id"] is None  # not grouped
    assert third[0]["input_tokens"] == 7
    assert page["has_more"] is False and page["next_page"] is None


async def test_usage__group_by_and_filters(http: httpx.AsyncClient, state: FakeOpenAIState) -> None:
    _seed_usage(state)
    url = "organization/usage/completions"
    base = {"start_time": MONDAY, "end_time": MONDAY + DAY}
    grouped = (await http.get(url, params={**base, "group_by": ["model", "batch"]})).json()
    rows = {(r["model"], r["batch"]): r["input_tokens"] for r in grouped["data"][0]["results"]}
    assert rows == {("gpt-4o-mini", False): 100, ("gpt-4o", True): 50}
    only_b = (await http.get(url, params={**base, "project_ids": ["proj_b"]})).json()
    assert only_b["data"][0]["results"][0]["input_tokens"] == 50
    no_batch = (await http.get(url, params={**base, "batch": "false"})).json()
    assert no_batch["data"][0]["results"][0]["input_tokens"] == 100
    bad = await http.get(url, params={**base, "group_by": "colour"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"
    missing = await http.get(url)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "start_time"


async def test_usage__pages_follow_next_page_until_has_more_is_false(
    http: httpx.AsyncClient, state: FakeOpenAIState
) -> None:
    _seed_usage(state)
    url = "organization/usage/completions"
    params: dict[str, str | int] = {"start_time": MONDAY, "end_time": MONDAY + 5 * DAY, "limit": 2}
    starts = []
    pages = 0
    while True:
        page = (await http.get(url, params=params)).json()
        pages += 1
        starts += [b["start_time"] for b in page["data"]]
        if not page["has_more"]:
            assert page["next_page"] is None
            break
        params["page"] = page["next_page"]
    assert pages == 3 and starts == [MONDAY + n * DAY for n in range(5)]
    bad = await http.get(url, params={"start_time": MONDAY, "page": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "page"
    too_many = await http.get(url, params={"start_time": MONDAY, "limit": 32})
    assert too_many.status_code == 400


async def test_usage__hour_buckets_default_to_24_and_end_at_now(
    http: httpx.AsyncClient, state: FakeOpenAIState
) -> None:
    page = (
        await http.get(
            "organization/usage/completions",
            params={"start_time": MONDAY, "bucket_width": "1h"},
        )
    ).json()
    assert len(page["data"]) == 24 and page["has_more"] is True
    assert page["data"][1]["start_time"] == MONDAY + 3600


async def test_costs__summed_as_decimals_grouped_by_line_item(
    http: httpx.AsyncClient, state: FakeOpenAIState
) -> None:
    for amount in ("0.10", "0.20"):
        state.add_cost(
            at=MONDAY + 5,
            amount=Decimal(amount),
            line_item="ft-gpt-4o-mini, training",
            project_id="proj_a",
            quantity=1000,
            quantity_unit="tokens",
        )
    state.add_cost(at=MONDAY + 6, amount=Decimal("1.5"), line_item="gpt-4o, input")
    url = "organization/costs"
    base = {"start_time": MONDAY, "end_time": MONDAY + DAY}
    total = (await http.get(url, params=base)).json()["data"][0]["results"]
    assert total == [
        {
            "object": "organization.costs.result",
            "amount": {"value": 1.8, "currency": "usd"},
            "line_item": None,
            "project_id": None,
            "api_key_id": None,
            "quantity": None,
            "quantity_unit": None,
        }
    ]
    by_item = (await http.get(url, params={**base, "group_by": "line_item"})).json()
    rows = {r["line_item"]: r for r in by_item["data"][0]["results"]}
    training = rows["ft-gpt-4o-mini, training"]
    assert training["amount"]["value"] == 0.3  # 0.1 + 0.2 summed exactly
    assert training["quantity"] == 2000 and training["quantity_unit"] == "tokens"
    hourly = await http.get(url, params={**base, "bucket_width": "1h"})
    assert hourly.status_code == 400 and hourly.json()["error"]["param"] == "bucket_width"
    only_a = (await http.get(url, params={**base, "project_ids": ["proj_a"]})).json()
    assert only_a["data"][0]["results"][0]["amount"]["value"] == 0.3
