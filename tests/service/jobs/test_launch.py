"""Launching fine-tuning jobs over HTTP against the fake OpenAI API (uvicorn, loopback)."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlmodel import select

from service.alerts.events import Event
from service.db import session_scope
from service.jobs.service import LAUNCH_METADATA_KEY
from tests.service.jobs.conftest import SQLITE_ONLY, TEN_EXAMPLES, JobsEnv

CREATE = "POST /v1/fine_tuning/jobs"
LIST = "GET /v1/fine_tuning/jobs"


def finished_events(env: JobsEnv) -> list[Event]:
    with session_scope(env.app.state.engine) as session:
        return list(session.exec(select(Event).where(Event.kind == "job.finished")).all())


def run_to_end(env: JobsEnv, steps: int = 3) -> None:
    watcher = env.watcher()
    for _ in range(steps):
        env.advance()
        report = watcher.tick()
        assert report.errors == 0, report


def test_launch__records_the_estimate_and_creates_one_job_tagged_with_the_launch_id(
    env: JobsEnv,
) -> None:
    response = env.launch()

    assert response.status_code == 201, response.text
    job = response.json()
    assert job["id"].startswith("job_") and job["openai_job_id"].startswith("ftjob-")
    assert job["status"] == "validating_files"
    assert job["requested_model"] == "gpt-4o-mini" and job["model"] == "gpt-4o-mini-2024-07-18"
    assert (job["team"], job["launched_by"]) == ("ml-platform", "slack:U123")
    estimate = job["estimate"]
    assert (
        estimate["n_examples"] == 10
        and estimate["n_epochs"] == 10
        and estimate["epochs_auto"] is True
    )
    assert estimate["charged_tokens"] == estimate["billing_tokens"] * 10
    assert job["estimated_cost_usd"] == estimate["cost_usd"]
    assert (
        Decimal(estimate["cost_usd"])
        == Decimal(estimate["charged_tokens"]) * Decimal("3.00") / 1_000_000
    )
    assert job["actual_cost_usd"] is None
    assert env.fake.create_job_requests == [
        {
            "model": "gpt-4o-mini",
            "training_file": job["training_file"],
            "hyperparameters": {
                "n_epochs": "auto",
                "batch_size": "auto",
                "learning_rate_multiplier": "auto",
            },
            "metadata": {LAUNCH_METADATA_KEY: job["id"]},
        }
    ]
    # The file was streamed from the Files API, not uploaded by the caller.
    assert env.openai_requests("GET /v1/files/{file_id}/content") == 1


def test_launch__watched_until_succeeded_gives_actual_cost_beside_the_estimate(
    env: JobsEnv,
) -> None:
    job = env.launch(hyperparameters={"n_epochs": 3}).json()

    run_to_end(env)

    done = env.job(job["id"])
    fake_job = env.fake.job(job["openai_job_id"])
    assert done["status"] == "succeeded"
    assert (
        done["trained_tokens"] == fake_job.trained_tokens == done["estimate"]["billing_tokens"] * 3
    )
    assert done["fine_tuned_model"] == fake_job.fine_tuned_model
    assert done["actual_cost_usd"] == done["estimated_cost_usd"]
    assert done["cost_difference_usd"] == "0.00"
    assert done["actual_price_version"] == done["estimate"]["price_version"]
    assert done["finished_at"] is not None and done["duration_seconds"] == 3 * 60
    messages = [e["message"] for e in done["events"]]
    assert "The job has successfully completed" in messages
    assert any(m.startswith("Finished: succeeded. Actual cost $") for m in messages)
    [event] = finished_events(env)
    assert (event.subject, event.dedupe_key) == (job["id"], f"job.finished:{job['id']}:succeeded")
    assert event.payload["actual_cost_usd"] == done["actual_cost_usd"]
    assert event.payload["openai_job_id"] == job["openai_job_id"]


@SQLITE_ONLY
def test_launch__actual_cost_differs_when_openai_trains_more_tokens_than_estimated(
    env: JobsEnv,
) -> None:
    env.fake.count_text_tokens = lambda text, encoding: len(
        text
    )  # OpenAI counts 1 token per character
    job = env.launch(hyperparameters={"n_epochs": 2}).json()

    run_to_end(env)

    done = env.job(job["id"])
    actual = Decimal(done["trained_tokens"]) * Decimal("3.00") / 1_000_000
    assert Decimal(done["actual_cost_usd"]) == actual
    assert Decimal(done["cost_difference_usd"]) == actual - Decimal(done["estimated_cost_usd"]) > 0


def test_launch__failed_job_records_openai_error_and_costs_nothing(env: JobsEnv) -> None:
    env.fake.fail_next_job(
        code="invalid_training_file",
        message="Training file has a bad example.",
        param="training_file",
    )
    job = env.launch().json()

    run_to_end(env)

    done = env.job(job["id"])
    assert done["status"] == "failed"
    assert done["error"] == {
        "code": "invalid_training_file",
        "message": "Training file has a bad example.",
        "param": "training_file",
    }
    assert done["actual_cost_usd"] == "0.00"
    assert [e.dedupe_key for e in finished_events(env)] == [f"job.finished:{job['id']}:failed"]


def test_cancel__cancels_at_openai_and_publishes_the_finish_once(env: JobsEnv) -> None:
    job = env.launch().json()
    env.advance(2)
    env.watcher().tick()  # running

    response = env.launcher.post(f"/v1/jobs/{job['openai_job_id']}/cancel")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert env.fake.job(job["openai_job_id"]).status == "cancelled"
    assert env.launcher.post(f"/v1/jobs/{job['id']}/cancel").json()["code"] == "already_finished"
    env.advance()
    env.watcher().tick()
    assert [e.dedupe_key for e in finished_events(env)] == [f"job.finished:{job['id']}:cancelled"]
    # It ran, and OpenAI reported no trained tokens: the actual cost is unknown, not zero.
    assert env.job(job["id"])["actual_cost_usd"] is None


def test_launch__format_errors_stop_the_launch_with_line_numbers(env: JobsEnv) -> None:
    lines = TEN_EXAMPLES.splitlines()
    lines[2] = b'{"messages": [{"role": "user", "content": "no answer"}'  # line 3: not JSON
    lines[6] = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}]}
    ).encode()  # line 7: no assistant
    response = env.launch(training_file=env.upload(b"\n".join(lines) + b"\n"))

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "format_errors"
    assert {(e["kind"], tuple(e["lines"])) for e in problem["format_errors"]} == {
        ("invalid_json", (3,)),
        ("example_missing_assistant_message", (7,)),
    }
    assert env.fake.create_job_requests == []
    [failed] = env.reader.get("/v1/jobs", params={"status": "launch_failed"}).json()["items"]
    assert failed["error"]["code"] == "format_errors"


@SQLITE_ONLY
def test_launch__fewer_than_ten_examples_is_refused(env: JobsEnv) -> None:
    response = env.launch(training_file=env.upload(SAMPLE_FIVE))

    assert response.status_code == 422
    assert response.json()["code"] == "too_few_examples" and response.json()["n_examples"] == 5
    assert env.fake.create_job_requests == []


SAMPLE_FIVE = TEN_EXAMPLES.split(b"\n", 5)[-1]


@SQLITE_ONLY
def test_launch__unknown_model_is_422_with_suggestions_and_records_nothing(env: JobsEnv) -> None:
    response = env.launch(model="gpt-4o-minii")

    assert response.status_code == 422
    assert "gpt-4o-mini" in response.json()["suggestions"]
    assert env.reader.get("/v1/jobs").json()["items"] == []


def test_launch__insufficient_quota_is_not_retried_and_is_reported_as_402(env: JobsEnv) -> None:
    env.fake.inject_fault("insufficient_quota", path="/v1/fine_tuning/jobs", method="POST")

    response = env.launch()

    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_quota"
    assert "exceeded your current quota" in response.json()["detail"]
    assert env.openai_requests(CREATE) == 1
    assert env.fake.jobs == []


@SQLITE_ONLY
def test_launch__openai_validation_error_comes_back_verbatim(env: JobsEnv) -> None:
    message = "Fine-tuning jobs cannot be created on an Explore plan."
    env.fake.inject_fault(
        "error",
        path="/v1/fine_tuning/jobs",
        method="POST",
        status=400,
        message=message,
        param="model",
        code="invalid_plan",
    )

    response = env.launch()

    assert response.status_code == 422
    assert response.json()["code"] == "openai_rejected" and response.json()["detail"] == message
    assert env.openai_requests(CREATE) == 1


def test_launch__timed_out_create_produces_exactly_one_job(env: JobsEnv) -> None:
    # OpenAI creates the job but answers after the client gave up (timeout 1s).
    env.fake.inject_fault(
        "late_response", path="/v1/fine_tuning/jobs", method="POST", delay_seconds=2
    )

    response = env.launch(key="slack-interaction-1")

    assert response.status_code == 201, response.text
    assert env.openai_requests(CREATE) == 1
    [upstream] = env.fake.jobs
    assert response.json()["openai_job_id"] == upstream.id
    # The bot retries with the same key: still one job.
    replay = env.launch(key="slack-interaction-1", training_file=response.json()["training_file"])
    assert replay.status_code == 200 and replay.json()["id"] == response.json()["id"]
    assert len(env.fake.jobs) == 1 and env.openai_requests(CREATE) == 1


def test_launch__create_with_unknown_outcome_is_reconciled_before_it_is_tried_again(
    env: JobsEnv,
) -> None:
    env.fake.inject_fault("server_error", path="/v1/fine_tuning/jobs", method="POST", status=502)
    body = env.body()

    first = env.launcher.post("/v1/jobs", json=body, headers={"Idempotency-Key": "k-502"})

    assert first.status_code == 503
    assert first.json()["code"] == "launch_outcome_unknown"
    assert env.fake.jobs == [] and env.openai_requests(CREATE) == 1
    job = env.job(first.json()["job_id"])
    assert job["status"] == "launch_unknown"

    again = env.launcher.post("/v1/jobs", json=body, headers={"Idempotency-Key": "k-502"})

    assert again.status_code == 201, again.text
    assert again.json()["id"] == job["id"]
    assert len(env.fake.jobs) == 1 and env.openai_requests(CREATE) == 2
    # Before creating again it looked for the first attempt by its launch id.
    lookups = [
        r
        for r in env.fake.request_log
        if r.endpoint == LIST and LAUNCH_METADATA_KEY in r.query_string
    ]
    assert len(lookups) == 2  # once after the 502, once on the repeat


def test_idempotency__same_key_returns_the_first_launch_with_200(env: JobsEnv) -> None:
    body = env.body()
    first = env.launcher.post("/v1/jobs", json=body, headers={"Idempotency-Key": "abc"})
    second = env.launcher.post("/v1/jobs", json=body, headers={"Idempotency-Key": "abc"})

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert len(env.fake.jobs) == 1


@SQLITE_ONLY
def test_idempotency__same_key_with_a_different_request_is_refused(env: JobsEnv) -> None:
    body = env.body()
    env.launcher.post("/v1/jobs", json=body, headers={"Idempotency-Key": "abc"})

    response = env.launcher.post(
        "/v1/jobs", json={**body, "suffix": "other"}, headers={"Idempotency-Key": "abc"}
    )

    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert len(env.fake.jobs) == 1


def test_idempotency__keys_are_scoped_to_the_launching_api_key(env: JobsEnv) -> None:
    body = env.body()
    a = env.launcher.post("/v1/jobs", json=body, headers={"Idempotency-Key": "same"})
    b = env.admin.post("/v1/jobs", json=body, headers={"Idempotency-Key": "same"})

    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


@SQLITE_ONLY
def test_launch__without_launch_scope_is_forbidden(env: JobsEnv) -> None:
    assert env.launch(env.reader).status_code == 403
    assert env.fake.create_job_requests == []


@SQLITE_ONLY
def test_launch__bad_body_is_422_not_500(env: JobsEnv) -> None:
    for bad in (
        {"hyperparameters": {"n_epochs": 0}},
        {"hyperparameters": {"n_epoch": 3}},
        {"hyperparameters": {"learning_rate_multiplier": "fast"}},
        {"team": ""},
        {"training_file": "a/b"},
        {"suffix": "x" * 65},
        {"force": "yes please"},
    ):
        response = env.launcher.post("/v1/jobs", json=env.body(**bad))
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"


@SQLITE_ONLY
def test_launch__file_missing_at_openai_is_reported_verbatim(env: JobsEnv) -> None:
    response = env.launch(training_file="file-doesnotexist")

    assert response.status_code == 422
    assert response.json()["code"] == "openai_rejected"
    assert response.json()["detail"] == "No such File object: file-doesnotexist"


def test_preview__estimates_and_checks_the_budget_but_creates_nothing(env: JobsEnv) -> None:
    env.admin.put("/v1/budgets/ml-platform", json={"monthly_usd": "0.10"})

    response = env.launcher.post("/v1/jobs/preview", json=env.body())

    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["estimate"]["n_examples"] == 10 and Decimal(
        preview["estimate"]["cost_usd"]
    ) > Decimal("0.10")
    assert preview["budget"] == {
        "team": "ml-platform",
        "month": preview["budget"]["month"],
        "monthly_budget_usd": "0.10",
        "spent_usd": "0.00",
        "remaining_usd": "0.10",
        "would_exceed": True,
    }
    assert env.fake.create_job_requests == []
    assert env.reader.get("/v1/jobs").json()["items"] == []


@SQLITE_ONLY
def test_launch__openai_not_configured_is_503(env: JobsEnv) -> None:
    env.settings.openai_api_key = None

    response = env.launch()

    assert response.status_code == 503 and response.json()["code"] == "openai_not_configured"


def test_launch__actual_cost_uses_the_contract_price_in_force(env: JobsEnv) -> None:
    job = env.launch(hyperparameters={"n_epochs": 1}).json()
    override = {
        "model": "gpt-4o-mini-2024-07-18",
        "field": "usd_per_1m_training_tokens",
        "usd_per_1m_tokens": "1.50",
        "note": "contract",
    }
    assert env.admin.put("/v1/prices/overrides", json=override).status_code == 200

    run_to_end(env)

    done = env.job(job["id"])
    assert (
        Decimal(done["actual_cost_usd"])
        == Decimal(done["trained_tokens"]) * Decimal("1.50") / 1_000_000
    )
    assert Decimal(done["cost_difference_usd"]) == -Decimal(
        done["actual_cost_usd"]
    )  # estimate was at $3.00
    assert any("override" in e["message"] for e in done["events"])
