"""Launches OpenAI will not accept on the day are refused before any request reaches OpenAI.

"Today" is pinned through the service's clock dependency (``service.clock.today_utc``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest

from service.clock import today_utc
from service.jobs.launch import openai_method
from service.jobs.schemas import JobIn
from tests.service.jobs.conftest import SQLITE_ONLY, JobsEnv

GRADER = {"type": "string_check", "name": "g", "input": "a", "reference": "b", "operation": "eq"}
PinDay = Callable[[date], None]


@pytest.fixture
def on_day(env: JobsEnv) -> Iterator[PinDay]:
    def pin(day: date) -> None:
        env.app.dependency_overrides[today_utc] = lambda: day

    yield pin
    env.app.dependency_overrides.pop(today_utc, None)


def openai_calls(env: JobsEnv) -> int:
    return sum(env.fake.request_counts.values())


@SQLITE_ONLY
def test_launch__davinci_002_is_refused_with_the_closing_date_and_replacement_and_no_openai_call(
    env: JobsEnv, on_day: PinDay
) -> None:
    on_day(date(2026, 12, 6))
    response = env.launch(model="davinci-002")

    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "fine_tuning_closed"
    assert (
        "supervised fine-tuning of davinci-002 closed on 2024-10-28; "
        "OpenAI recommends gpt-5.6-terra" in problem["detail"]
    )
    assert (problem["replacement"], problem["as_of"]) == ("gpt-5.6-terra", "2026-12-06")
    assert openai_calls(env) == 0


@SQLITE_ONLY
def test_launch__from_2027_01_06_no_fine_tuning_job_is_accepted(
    env: JobsEnv, on_day: PinDay
) -> None:
    on_day(date(2027, 1, 6))
    response = env.launch(model="gpt-4o-mini")

    assert response.status_code == 409, response.text
    assert "OpenAI accepts no new fine-tuning job on 2027-01-06" in response.json()["detail"]
    assert openai_calls(env) == 0
    assert env.reader.get("/v1/jobs").json()["items"] == []  # nothing recorded either


@SQLITE_ONLY
def test_launch__the_last_day_before_the_wind_down_still_launches(
    env: JobsEnv, on_day: PinDay
) -> None:
    on_day(date(2027, 1, 5))
    response = env.launch(model="gpt-4o-mini")

    assert response.status_code == 201, response.text
    assert env.fake.request_counts["POST /v1/fine_tuning/jobs"] == 1


@SQLITE_ONLY
def test_preview__refused_job_makes_no_openai_call(env: JobsEnv, on_day: PinDay) -> None:
    on_day(date(2026, 12, 6))
    response = env.launcher.post("/v1/jobs/preview", json=env.body(model="babbage-002"))

    assert response.status_code == 409, response.text
    assert "closed on 2024-10-28" in response.json()["detail"]
    assert openai_calls(env) == 0


@SQLITE_ONLY
def test_preview__says_how_many_days_are_left_before_new_jobs_stop(
    env: JobsEnv, on_day: PinDay
) -> None:
    on_day(date(2026, 12, 6))
    response = env.launcher.post("/v1/jobs/preview", json=env.body(model="gpt-4o-mini"))

    assert response.status_code == 200, response.text
    verdict = response.json()["fine_tuning"]
    assert (verdict["method"], verdict["last_day"], verdict["days_left"]) == (
        "supervised",
        "2027-01-05",
        31,
    )
    assert any("accepted until 2027-01-05 (31 days left)" in w for w in verdict["warnings"])
    assert any("31 days left" in w for w in response.json()["estimate"]["warnings"])


@SQLITE_ONLY
def test_launch__reinforcement_of_a_shut_down_model_is_refused_before_openai(
    env: JobsEnv, on_day: PinDay
) -> None:
    on_day(date(2026, 12, 6))
    grader = GRADER
    response = env.launch(
        model="o4-mini-2025-04-16", method="reinforcement", grader=grader, training_hours="2"
    )

    assert response.status_code == 409, response.text
    assert "2026-10-23" in response.json()["detail"]
    assert "gpt-5.6-terra" in response.json()["detail"]
    assert openai_calls(env) == 0


@SQLITE_ONLY
def test_launch__reinforcement_needs_a_grader_and_assumed_hours(env: JobsEnv) -> None:
    response = env.launch(model="o4-mini-2025-04-16", method="reinforcement", training_hours="2")

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "grader_required"
    assert openai_calls(env) == 0


@SQLITE_ONLY
def test_launch__a_method_the_model_does_not_offer_is_refused(env: JobsEnv, on_day: PinDay) -> None:
    on_day(date(2026, 12, 6))
    response = env.launch(model="gpt-4o-mini", method="preference")

    assert response.status_code == 409, response.text
    assert "does not offer preference fine-tuning" in response.json()["detail"]
    assert openai_calls(env) == 0


def test_openai_method__preference_and_reinforcement_follow_openais_method_object() -> None:
    base = {"training_file": "file-1", "model": "gpt-4.1", "team": "t"}
    supervised = JobIn.model_validate(base)
    preference = JobIn.model_validate(
        {**base, "method": "preference", "hyperparameters": {"n_epochs": 2}}
    )
    grader = GRADER
    reinforcement = JobIn.model_validate(
        {**base, "method": "reinforcement", "grader": grader, "training_hours": "1.5"}
    )

    assert openai_method(supervised) is None  # the top-level hyperparameters field is kept
    dpo = openai_method(preference)
    assert dpo is not None and dpo["type"] == "dpo"
    assert dpo["dpo"]["hyperparameters"]["n_epochs"] == 2
    rft = openai_method(reinforcement)
    assert rft is not None and rft["type"] == "reinforcement"
    assert rft["reinforcement"]["grader"] == grader


def test_fingerprint__a_supervised_request_keeps_its_pre_method_fingerprint() -> None:
    body = JobIn.model_validate({"training_file": "file-1", "model": "gpt-4o-mini", "team": "t"})

    assert "method" not in body.fingerprint() and "grader" not in body.fingerprint()
