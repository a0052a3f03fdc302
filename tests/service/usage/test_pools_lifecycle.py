"""Pools say when the models drawing on them are past their shutdown (as of the view's date)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.service.usage.support import UsageApi, ev

DEC_2026 = datetime(2026, 12, 6, 12, 0, 5, tzinfo=UTC)
FT_0613 = "ft:gpt-3.5-turbo-0613:acme::aaa111"


def test_pool__a_family_whose_every_model_shut_down_says_so(usage: UsageApi) -> None:
    usage.clock.now = DEC_2026
    usage.post_events(ev("gpt-3.5-turbo-0125", 100, 10, at=DEC_2026))

    pool = usage.pool("gpt-3.5-turbo")

    assert any(
        "every model of the gpt-3.5-turbo pool has shut down (the last on 2026-10-23)" in w
        and "gpt-5.6-terra" in w
        for w in pool["warnings"]
    )
    assert any("gpt-3.5-turbo-0125 stopped answering on 2026-10-23" in w for w in pool["warnings"])


def test_pool__a_fine_tune_past_its_shutdown_is_named_even_when_the_family_lives(
    usage: UsageApi,
) -> None:
    # 2025-06-02: gpt-3.5-turbo-0125 still answers, but 0613 shut down on 2024-09-13 and its
    # fine-tunes were still answering then (they went on 2026-10-23).
    usage.post_events(ev("gpt-3.5-turbo-0613", 100, 0), ev(FT_0613, 100, 0))

    warnings = usage.pool("gpt-3.5-turbo")["warnings"]

    assert warnings == [
        "gpt-3.5-turbo-0613 stopped answering on 2024-09-13: requests to it fail; "
        "OpenAI recommends gpt-3.5-turbo-0125"
    ]

    usage.clock.now = DEC_2026
    usage.post_events(ev(FT_0613, 100, 0, at=DEC_2026))
    later = usage.pool("gpt-3.5-turbo")["warnings"]
    assert any(f"{FT_0613} stopped answering on 2026-10-23" in w for w in later)


def test_pool__models_still_answering_have_no_warning(usage: UsageApi) -> None:
    usage.clock.now = DEC_2026
    usage.post_events(ev("gpt-4o-mini", 100, 10, at=DEC_2026))

    assert usage.pool("gpt-4o-mini")["warnings"] == []


def test_pools__the_list_carries_the_warnings_too(usage: UsageApi) -> None:
    usage.clock.now = DEC_2026
    usage.post_events(ev("gpt-3.5-turbo-0125", 100, 10, at=DEC_2026))

    listed = usage.admin.get("/v1/usage/pools").json()["pools"]

    [pool] = [p for p in listed if p["family"] == "gpt-3.5-turbo"]
    assert pool["warnings"]
