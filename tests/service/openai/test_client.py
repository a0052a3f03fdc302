"""OpenAIClient against the fake OpenAI API over real loopback HTTP.

Assertions count the requests the fake saw (never elapsed time). Retry waits come from the
fake's ``retry-after-ms`` hints or a 1 ms backoff base, so the suite stays fast.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import tracemalloc
from pathlib import Path
from typing import cast

import pytest

from service.openai import (
    FineTuningJob,
    OpenAIAuthError,
    OpenAIClient,
    OpenAICreateOutcomeUnknown,
    OpenAINotFound,
    OpenAIProtocolError,
    OpenAIQuotaExceeded,
    OpenAIRequestRejected,
    OpenAIUnavailable,
)
from tests.fakes.fake_openai import FakeOpenAIState, ManualClock
from tests.service.openai.conftest import TEST_API_KEY, MakeClient

JOBS = "GET /v1/fine_tuning/jobs"
CREATE = "POST /v1/fine_tuning/jobs"
RETRIEVE_JOB = "GET /v1/fine_tuning/jobs/{job_id}"
CONTENT = "GET /v1/files/{file_id}/content"

TRAINING_LINE = json.dumps(
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hi."},
            {"role": "assistant", "content": "Hi."},
        ]
    }
)


def _training_file(state: FakeOpenAIState, examples: int = 10) -> str:
    return state.add_file("train.jsonl", ("\n".join([TRAINING_LINE] * examples) + "\n").encode())


def _create_jobs(state: FakeOpenAIState, count: int, **extra: object) -> list[str]:
    file_id = _training_file(state)
    return [
        str(state.create_job({"model": "gpt-4o-mini", "training_file": file_id, **extra})["id"])
        for _ in range(count)
    ]


def _retry_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    records = [r for r in caplog.records if r.name == "service.openai.client"]
    assert all(r.levelno == logging.WARNING for r in records)
    # The wait is the last %-argument of the retry warning.
    return [float(cast(float, r.args[-1])) for r in records if isinstance(r.args, tuple)]


# ------------------------------------------------------------------- basics


async def test_sends_auth_organization_and_project_headers(
    make_client: MakeClient, fake_openai: FakeOpenAIState
) -> None:
    file_id = _training_file(fake_openai)
    client = make_client(organization="org-abc", project="proj_xyz")

    file = await client.retrieve_file(file_id)

    assert file.id == file_id and file.purpose == "fine-tune" and file.filename == "train.jsonl"
    (request,) = fake_openai.request_log
    assert request.headers["authorization"] == f"Bearer {TEST_API_KEY}"
    assert request.headers["openai-organization"] == "org-abc"
    assert request.headers["openai-project"] == "proj_xyz"


async def test_optional_headers_are_omitted_when_not_configured(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    await openai_client.retrieve_file(_training_file(fake_openai))
    (request,) = fake_openai.request_log
    assert "openai-organization" not in request.headers
    assert "openai-project" not in request.headers


async def test_api_key_never_appears_in_repr_or_logs(
    make_client: MakeClient, fake_openai: FakeOpenAIState, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    fake_openai.inject_fault("server_error", times=1)
    caplog.set_level(logging.DEBUG)

    await client.retrieve_file(_training_file(fake_openai))

    assert TEST_API_KEY not in repr(client)
    assert caplog.records, "the retry should have been logged"
    assert all(TEST_API_KEY not in r.getMessage() for r in caplog.records)


async def test_create_retrieve_cancel_and_events(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState, clock: ManualClock
) -> None:
    file_id = _training_file(fake_openai)

    job = await openai_client.create_job(
        model="gpt-4o-mini",
        training_file=file_id,
        hyperparameters={"n_epochs": 2},
        suffix="greeter",
        metadata={"launch_id": "L-1"},
        seed=7,
    )

    assert job.status == "validating_files" and not job.is_terminal
    assert job.model == "gpt-4o-mini-2024-07-18"
    assert job.metadata == {"launch_id": "L-1"} and job.seed == 7
    assert fake_openai.create_job_requests == [
        {
            "model": "gpt-4o-mini",
            "training_file": file_id,
            "hyperparameters": {"n_epochs": 2},
            "suffix": "greeter",
            "metadata": {"launch_id": "L-1"},
            "seed": 7,
        }
    ]

    clock.advance(15)
    queued = await openai_client.retrieve_job(job.id)
    assert queued.status == "queued" and queued.resolved_n_epochs == 2

    cancelled = await openai_client.cancel_job(job.id)
    assert cancelled.status == "cancelled" and cancelled.is_terminal

    events = await openai_client.list_events(job.id, limit=2)
    assert [e.message for e in events.data] == [
        "Fine-tuning job cancelled",
        "Files validated, moving job to queued state",
    ]
    assert events.has_more
    rest = await openai_client.list_events(job.id, after=events.last_id)
    assert [e.message for e in rest.data] == [
        f"Validating training file: {file_id}",
        f"Created fine-tuning job: {job.id}",
    ]
    assert not rest.has_more


async def test_succeeded_job_reports_trained_tokens_and_model(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState, clock: ManualClock
) -> None:
    job = await openai_client.create_job(
        model="gpt-3.5-turbo-0125", training_file=_training_file(fake_openai), suffix="s"
    )
    clock.advance(30)

    done = await openai_client.retrieve_job(job.id)

    assert done.status == "succeeded" and done.is_terminal and done.failure is None
    expected = fake_openai.job(job.id).billing_tokens
    assert expected and done.trained_tokens == expected * 10  # 10 examples -> auto = 10 epochs
    assert done.fine_tuned_model == f"ft:gpt-3.5-turbo-0125:fake-org:s:{job.id[-8:]}"
    assert done.finished_at is not None and done.result_files


async def test_failed_job_carries_error_object(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.fail_job(job_id, code="invalid_n_examples", message="Too few.", param="x")

    job = await openai_client.retrieve_job(job_id)

    assert job.status == "failed" and job.failure is not None
    assert (job.failure.code, job.failure.message, job.failure.param) == (
        "invalid_n_examples",
        "Too few.",
        "x",
    )


# ------------------------------------------------------------------ retries


async def test_rate_limit_is_retried_honouring_retry_after_ms(
    make_client: MakeClient, fake_openai: FakeOpenAIState, caplog: pytest.LogCaptureFixture
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault("rate_limit", path="/v1/fine_tuning/jobs/*", times=2, retry_after_ms=7)
    # Without the hint the client would wait ~10 s; the hint must win.
    client = make_client(backoff_base_seconds=10.0)
    caplog.set_level(logging.WARNING, logger="service.openai.client")

    job = await client.retrieve_job(job_id)

    assert job.id == job_id
    assert fake_openai.request_counts[RETRIEVE_JOB] == 3
    assert _retry_waits(caplog) == [pytest.approx(0.007), pytest.approx(0.007)]


async def test_retry_after_seconds_header_is_honoured(
    make_client: MakeClient, fake_openai: FakeOpenAIState, caplog: pytest.LogCaptureFixture
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault("rate_limit", times=1, retry_after_ms=None, retry_after=0.01)
    client = make_client(backoff_base_seconds=10.0)
    caplog.set_level(logging.WARNING, logger="service.openai.client")

    await client.retrieve_job(job_id)

    assert fake_openai.request_counts[RETRIEVE_JOB] == 2
    assert _retry_waits(caplog) == [pytest.approx(0.01)]


async def test_rate_limit_gives_up_after_max_retries(
    make_client: MakeClient, fake_openai: FakeOpenAIState
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault("rate_limit", times=10, retry_after_ms=1)
    client = make_client(max_retries=3)

    with pytest.raises(OpenAIUnavailable) as caught:
        await client.retrieve_job(job_id)

    assert caught.value.attempts == 4 and caught.value.last_status == 429
    assert fake_openai.request_counts[RETRIEVE_JOB] == 4


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState, status: int
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault("server_error", status=status, times=2)

    job = await openai_client.retrieve_job(job_id)

    assert job.id == job_id
    assert fake_openai.request_counts[RETRIEVE_JOB] == 3


async def test_read_timeout_is_retried(
    make_client: MakeClient, fake_openai: FakeOpenAIState
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault("delay", delay_seconds=5.0, times=1)
    client = make_client(timeout_seconds=0.2)

    job = await client.retrieve_job(job_id)

    assert job.id == job_id
    assert fake_openai.request_counts[RETRIEVE_JOB] == 2


async def test_connection_refused_is_retried_then_unavailable(
    fake_openai: FakeOpenAIState, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="service.openai.client")

    async with OpenAIClient(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=TEST_API_KEY,
        max_retries=2,
        backoff_base_seconds=0.001,
    ) as client:
        with pytest.raises(OpenAIUnavailable) as caught:
            await client.retrieve_job("ftjob-x")

    assert caught.value.attempts == 3 and caught.value.last_error == "ConnectError"
    assert len(_retry_waits(caplog)) == 2


# --------------------------------------------------------- non-retried errors


async def test_insufficient_quota_is_never_retried(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault("insufficient_quota", times=5)

    with pytest.raises(OpenAIQuotaExceeded) as caught:
        await openai_client.retrieve_job(job_id)

    assert fake_openai.request_counts[RETRIEVE_JOB] == 1
    assert caught.value.status == 429 and caught.value.code == "insufficient_quota"
    assert caught.value.message.startswith("You exceeded your current quota")


async def test_insufficient_quota_on_create_is_not_retried_and_creates_nothing(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    file_id = _training_file(fake_openai)
    fake_openai.inject_fault("insufficient_quota", path="/v1/fine_tuning/jobs", times=5)

    with pytest.raises(OpenAIQuotaExceeded):
        await openai_client.create_job(model="gpt-4o-mini", training_file=file_id)

    assert fake_openai.request_counts[CREATE] == 1
    assert fake_openai.jobs == []


async def test_billing_hard_limit_is_a_quota_error(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault(
        "error",
        status=400,
        code="billing_hard_limit_reached",
        message="Billing hard limit has been reached",
        times=5,
    )

    with pytest.raises(OpenAIQuotaExceeded) as caught:
        await openai_client.retrieve_job(job_id)

    assert caught.value.status == 400 and caught.value.code == "billing_hard_limit_reached"
    assert fake_openai.request_counts[RETRIEVE_JOB] == 1


async def test_validation_error_comes_back_verbatim(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    file_id = _training_file(fake_openai)

    with pytest.raises(OpenAIRequestRejected) as caught:
        await openai_client.create_job(model="gpt-9-turbo", training_file=file_id)

    error = caught.value
    assert error.message == "Model gpt-9-turbo is not available for fine-tuning or does not exist."
    assert (error.status, error.param, error.code, error.type) == (
        400,
        "model",
        "model_not_available",
        "invalid_request_error",
    )
    assert fake_openai.request_counts[CREATE] == 1


async def test_unknown_training_file_is_rejected(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    with pytest.raises(OpenAIRequestRejected) as caught:
        await openai_client.create_job(model="gpt-4o-mini", training_file="file-missing")

    assert caught.value.param == "training_file"
    assert caught.value.message == "invalid training_file: file-missing"


async def test_bad_api_key_is_an_auth_error(
    make_client: MakeClient, fake_openai: FakeOpenAIState
) -> None:
    fake_openai.api_key = "sk-the-right-one"

    with pytest.raises(OpenAIAuthError) as caught:
        await make_client().retrieve_file("file-x")

    assert caught.value.status == 401 and caught.value.code == "invalid_api_key"
    assert TEST_API_KEY not in str(caught.value)
    assert fake_openai.request_counts["GET /v1/files/{file_id}"] == 1


async def test_missing_job_is_not_found(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    with pytest.raises(OpenAINotFound) as caught:
        await openai_client.retrieve_job("ftjob-nope")
    assert caught.value.status == 404
    assert fake_openai.request_counts[RETRIEVE_JOB] == 1


async def test_ids_are_quoted_as_one_path_segment(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    with pytest.raises(OpenAINotFound):
        await openai_client.retrieve_job("../files/x")
    assert fake_openai.request_log[-1].raw_path == "/v1/fine_tuning/jobs/..%2Ffiles%2Fx"


async def test_malformed_json_is_a_protocol_error_not_retried(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    (job_id,) = _create_jobs(fake_openai, 1)
    fake_openai.inject_fault("malformed", times=5)

    with pytest.raises(OpenAIProtocolError):
        await openai_client.retrieve_job(job_id)

    assert fake_openai.request_counts[RETRIEVE_JOB] == 1


def test_unknown_status_is_kept_and_not_terminal() -> None:
    job = FineTuningJob.model_validate(
        {"id": "ftjob-1", "created_at": 1, "model": "m", "status": "paused", "new_field": 1}
    )
    assert job.status == "paused" and not job.is_terminal
    assert job.model_extra == {"new_field": 1}


# ---------------------------------------------------------- create is unique


async def test_create_timeout_raises_outcome_unknown_and_job_exists_once(
    make_client: MakeClient, fake_openai: FakeOpenAIState
) -> None:
    file_id = _training_file(fake_openai)
    fake_openai.inject_fault(
        "late_response", method="POST", path="/v1/fine_tuning/jobs", delay_seconds=10.0
    )
    client = make_client(timeout_seconds=0.3)

    with pytest.raises(OpenAICreateOutcomeUnknown) as caught:
        await client.create_job(
            model="gpt-4o-mini", training_file=file_id, metadata={"launch_id": "L-42"}
        )

    assert caught.value.metadata == {"launch_id": "L-42"}
    assert fake_openai.request_counts[CREATE] == 1
    assert len(fake_openai.jobs) == 1
    page = await client.list_jobs(metadata={"launch_id": "L-42"})
    assert [j.id for j in page.data] == [fake_openai.jobs[0].id]
    assert (await client.list_jobs(metadata={"launch_id": "L-other"})).data == []


async def test_create_server_error_is_not_retried(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    file_id = _training_file(fake_openai)
    fake_openai.inject_fault("server_error", path="/v1/fine_tuning/jobs", times=5)

    with pytest.raises(OpenAICreateOutcomeUnknown):
        await openai_client.create_job(
            model="gpt-4o-mini", training_file=file_id, metadata={"launch_id": "L-1"}
        )

    assert fake_openai.request_counts[CREATE] == 1


async def test_create_unreadable_response_is_outcome_unknown(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    file_id = _training_file(fake_openai)
    fake_openai.inject_fault("malformed", path="/v1/fine_tuning/jobs")

    with pytest.raises(OpenAICreateOutcomeUnknown):
        await openai_client.create_job(model="gpt-4o-mini", training_file=file_id)

    assert fake_openai.request_counts[CREATE] == 1


async def test_create_rate_limited_is_retried_and_creates_one_job(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    file_id = _training_file(fake_openai)
    fake_openai.inject_fault("rate_limit", path="/v1/fine_tuning/jobs", times=2, retry_after_ms=1)

    job = await openai_client.create_job(model="gpt-4o-mini", training_file=file_id)

    assert fake_openai.request_counts[CREATE] == 3
    assert [j.id for j in fake_openai.jobs] == [job.id]


async def test_create_connection_refused_is_unavailable_not_unknown(
    fake_openai: FakeOpenAIState,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async with OpenAIClient(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=TEST_API_KEY,
        max_retries=1,
        backoff_base_seconds=0.001,
    ) as client:
        with pytest.raises(OpenAIUnavailable):
            await client.create_job(model="gpt-4o-mini", training_file="file-x")


# --------------------------------------------------------------- pagination


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
async def test_iter_jobs_walks_every_page_with_one_request_per_100(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState, count: int
) -> None:
    created = _create_jobs(fake_openai, count)
    fake_openai.reset_counts()

    seen = [job.id async for job in openai_client.iter_jobs()]

    assert seen == list(reversed(created))  # newest first, each exactly once
    assert fake_openai.request_counts[JOBS] == max(1, math.ceil(count / 100))


async def test_list_jobs_filters_by_metadata(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState
) -> None:
    mine = _create_jobs(fake_openai, 3, metadata={"team": "search"})
    _create_jobs(fake_openai, 2, metadata={"team": "ads"})
    _create_jobs(fake_openai, 1)

    page = await openai_client.list_jobs(metadata={"team": "search"})
    assert [j.id for j in page.data] == list(reversed(mine)) and not page.has_more

    first = await openai_client.list_jobs(metadata={"team": "search"}, limit=2)
    assert first.has_more
    second = await openai_client.list_jobs(metadata={"team": "search"}, after=first.last_id)
    assert [j.id for j in first.data + second.data] == list(reversed(mine))


# ----------------------------------------------------------------- download


async def test_download_streams_to_disk(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState, tmp_path: Path
) -> None:
    content = bytes(range(256)) * (24 * 4096 + 3)  # ~24 MiB, not a multiple of the chunk size
    file_id = fake_openai.add_file("big.jsonl", content)
    dest = tmp_path / "big.jsonl"

    tracemalloc.start()
    try:
        written = await openai_client.download_file(file_id, dest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == len(content) == dest.stat().st_size
    assert dest.read_bytes() == content
    assert list(tmp_path.iterdir()) == [dest]  # no partial file left behind
    # Client and fake (same process) together never held more than a fraction of the file;
    # the ~1-3 MiB of socket and thread-pool buffering does not grow with the file size.
    assert peak < len(content) // 3
    assert fake_openai.request_counts[CONTENT] == 1


async def test_download_retries_server_errors(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState, tmp_path: Path
) -> None:
    file_id = fake_openai.add_file("small.jsonl", b'{"a": 1}\n')
    fake_openai.inject_fault("server_error", path="/v1/files/*/content", times=2)

    written = await openai_client.download_file(file_id, tmp_path / "out.jsonl")

    assert written == 9 and (tmp_path / "out.jsonl").read_bytes() == b'{"a": 1}\n'
    assert fake_openai.request_counts[CONTENT] == 3


async def test_download_of_missing_file_leaves_nothing(
    openai_client: OpenAIClient, fake_openai: FakeOpenAIState, tmp_path: Path
) -> None:
    with pytest.raises(OpenAINotFound) as caught:
        await openai_client.download_file("file-missing", tmp_path / "out.jsonl")

    assert caught.value.message == "No such File object: file-missing"
    assert list(tmp_path.iterdir()) == []
