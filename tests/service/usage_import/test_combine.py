"""Reported and imported usage combine per model and bucket as the larger, never the sum."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.usage.router import current_time
from tests.service.usage_import.conftest import Importer
from tests.service.usage_import.support import PageFaults

NOW = datetime(2025, 6, 2, 12, 30, 5, tzinfo=UTC)
RECENT = datetime(2025, 6, 2, 11, 0, tzinfo=UTC)
OLD_HOUR = datetime(2025, 5, 31, 10, 0, tzinfo=UTC)
MINI = "gpt-4o-mini"


@pytest.fixture
def at_now(importer: Importer) -> Iterator[Importer]:
    importer.app.dependency_overrides[current_time] = lambda: NOW
    try:
        yield importer
    finally:
        importer.app.dependency_overrides.pop(current_time, None)


def _report(importer: Importer, at: datetime, prompt: int, requests: int = 1) -> None:
    events = [
        {
            "model": MINI,
            "prompt_tokens": prompt // requests,
            "completion_tokens": 0,
            "timestamp": (at + timedelta(seconds=i)).isoformat(),
        }
        for i in range(requests)
    ]
    r = importer.admin.post("/v1/usage", json={"events": events})
    assert r.status_code == 200, r.text


def _history(importer: Importer, start: datetime, end: datetime) -> dict[str, Any]:
    r = importer.admin.get(
        f"/v1/usage/pools/{MINI}/history",
        params={"from": start.isoformat(), "to": end.isoformat()},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _minute(body: dict[str, Any], hh_mm: str) -> dict[str, Any]:
    return next(m for m in body["minutes"] if m["minute"][11:16] == hh_mm)


def test_combine__a_minute_both_sources_saw_counts_the_larger_figure(
    at_now: Importer, fake: PageFaults
):
    # 11:15: a client reported one request of 300 tokens; OpenAI saw two requests, 350 tokens
    # (and names the snapshot the client's alias pointed at: the same pool key).
    _report(at_now, RECENT + timedelta(minutes=15, seconds=5), prompt=300)
    fake.add_completions_usage(
        at=RECENT.timestamp() + 15 * 60 + 5,
        model="gpt-4o-mini-2024-07-18",
        input_tokens=300,
        output_tokens=50,
        num_model_requests=2,
    )
    # 11:20: reported only (OpenAI has not caught up); 11:25: imported only (no instrumentation).
    _report(at_now, RECENT + timedelta(minutes=20, seconds=5), prompt=500)
    fake.add_completions_usage(
        at=RECENT.timestamp() + 25 * 60, model=MINI, input_tokens=80, output_tokens=0
    )
    at_now.run(NOW)

    body = _history(at_now, RECENT, RECENT + timedelta(hours=1))

    both, reported, imported = (_minute(body, m) for m in ("11:15", "11:20", "11:25"))
    assert (both["tokens"], both["requests"], both["source"]) == (350, 2, "both")
    assert (reported["tokens"], reported["source"]) == (500, "reported")
    assert (imported["tokens"], imported["source"]) == (80, "imported")
    assert _minute(body, "11:30")["source"] is None
    assert body["total"]["tokens"] == 350 + 500 + 80  # not 300 + 350 + 500 + 80
    assert body["peak"]["tokens_per_minute"] == 500


def test_combine__an_hour_bucket_adds_only_what_clients_did_not_report(
    at_now: Importer, fake: PageFaults
):
    # Clients reported 1,000 tokens at 10:20; OpenAI's hour bucket holds 1,600 in all.
    _report(at_now, OLD_HOUR + timedelta(minutes=20), prompt=1000)
    fake.add_completions_usage(
        at=OLD_HOUR.timestamp() + 20 * 60, model=MINI, input_tokens=1300, output_tokens=300
    )
    at_now.run(NOW)

    body = _history(at_now, OLD_HOUR, OLD_HOUR + timedelta(hours=1))

    assert body["total"]["tokens"] == 1600  # max(1,000 reported, 1,600 imported)
    assert _minute(body, "10:20")["tokens"] == 1000 + 10  # the 600 unreported, spread over 60
    assert _minute(body, "10:20")["source"] == "both"
    assert _minute(body, "10:21")["tokens"] == 10 and _minute(body, "10:21")["estimated"]
    # The peak is the reported minute, not one made up from the spread hour.
    assert body["peak"]["tokens_per_minute"] == 1000
    assert body["peak"]["tokens_minute"] == "2025-05-31T10:20:00Z"


def test_combine__reporting_after_the_import_does_not_double_count(
    at_now: Importer, fake: PageFaults
):
    fake.add_completions_usage(
        at=RECENT.timestamp() + 15 * 60, model=MINI, input_tokens=400, output_tokens=0
    )
    at_now.run(NOW)
    _report(at_now, RECENT + timedelta(minutes=15, seconds=1), prompt=400, requests=2)

    body = _history(at_now, RECENT, RECENT + timedelta(hours=1))

    assert _minute(body, "11:15")["tokens"] == 400 and _minute(body, "11:15")["requests"] == 2
    assert body["total"]["tokens"] == 400


def test_combine__will_it_fit_counts_imported_traffic_beside_the_plan_once(
    at_now: Importer, fake: PageFaults
):
    r = at_now.admin.put(
        f"/v1/usage/limits/{MINI}", json={"tokens_per_minute": 10_000, "requests_per_minute": 100}
    )
    assert r.status_code == 200, r.text
    # 12:10: the base model ran 5,000 tokens by OpenAI's count, 3,000 of them reported.
    _report(at_now, NOW.replace(minute=10, second=1), prompt=3000)
    fake.add_completions_usage(
        at=NOW.replace(minute=10, second=2).timestamp(),
        model=MINI,
        input_tokens=5000,
        output_tokens=0,
    )
    at_now.run(NOW)

    r = at_now.admin.post(
        "/v1/usage/plan",
        json={
            "model": "ft:gpt-4o-mini-2024-07-18:acme::mig1",
            "requests_per_minute": 10,
            "tokens_per_request": 600,
        },
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["other_traffic"]["tokens_per_minute"] == 5000  # not 3,000, not 8,000
    assert body["available"]["tokens_per_minute"] == 5000
    assert body["fits"] is False  # 6,000 TPM wanted
