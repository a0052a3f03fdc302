"""Planning sees a fine-tuned model's traffic imported from OpenAI's Usage API, counted once."""

from __future__ import annotations

from datetime import UTC, datetime

from service.db import session_scope
from service.planning.traffic import fine_tuned_traffic, requests_since
from service.usage.router import current_time
from tests.service.usage_import.conftest import Importer
from tests.service.usage_import.support import PageFaults

NOW = datetime(2025, 6, 2, 12, 30, 5, tzinfo=UTC)
RECENT = datetime(2025, 6, 2, 11, 0, tzinfo=UTC)  # imported in minute buckets
FT = "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"


def ts(moment: datetime, seconds: int = 0) -> int:
    return int(moment.timestamp()) + seconds


def test_planning__a_fine_tune_seen_only_by_the_usage_api_has_its_traffic(
    importer: Importer, fake: PageFaults
):
    # Two busy minutes no client reported: 3 requests of 200 + 100 tokens, then 1 of 200 + 100.
    fake.add_completions_usage(
        at=ts(RECENT, 60 + 5), model=FT, input_tokens=600, output_tokens=300, num_model_requests=3
    )
    fake.add_completions_usage(
        at=ts(RECENT, 120 + 5), model=FT, input_tokens=200, output_tokens=100, num_model_requests=1
    )
    assert importer.run(NOW)["outcome"] == "ok"

    with session_scope(importer.app.state.engine) as session:
        traffic = fine_tuned_traffic(session, org="default", now=NOW, days=1)[FT]
        since = requests_since(session, org="default", model=FT, since=RECENT)

    assert (traffic.requests, traffic.prompt_tokens, traffic.completion_tokens) == (4, 800, 400)
    assert (traffic.peak_tokens_per_minute, traffic.source) == (900, "imported")
    assert traffic.as_traffic().prompt_tokens == 200
    assert since == 4


def test_planning__reported_and_imported_traffic_of_one_minute_count_once(
    importer: Importer, fake: PageFaults
):
    fake.add_completions_usage(
        at=ts(RECENT, 60 + 5), model=FT, input_tokens=600, output_tokens=300, num_model_requests=3
    )
    # The ingest API accepts events of the last 7 days by its own clock: make it NOW.
    importer.app.dependency_overrides[current_time] = lambda: NOW
    r = importer.admin.post(
        "/v1/usage",
        json={
            "events": [
                {
                    "model": FT,
                    "prompt_tokens": 200,
                    "completion_tokens": 100,
                    "timestamp": datetime.fromtimestamp(ts(RECENT, 60 + 10), UTC).isoformat(),
                }
            ]
        },
    )
    assert r.status_code in (200, 201, 202), r.text
    assert importer.run(NOW)["outcome"] == "ok"

    with session_scope(importer.app.state.engine) as session:
        traffic = fine_tuned_traffic(session, org="default", now=NOW, days=1)[FT]

    # The client reported 1 of OpenAI's 3 requests in that minute: the minute holds 3, not 4.
    assert (traffic.requests, traffic.source) == (3, "both")
