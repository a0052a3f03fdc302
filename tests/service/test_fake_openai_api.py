"""Behaviour of the fake OpenAI API itself (its clock, hooks, faults and admin endpoints)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.fake_openai import (
    FakeOpenAIError,
    FakeOpenAIState,
    ManualClock,
    approximate_text_tokens,
    create_fake_openai_app,
    default_n_epochs,
)

REPO = Path(__file__).resolve().parents[2]
# The cookbook toy dataset, bundled with the package (byte-identical to the reference file).
TOY_FILE = REPO / "pricing" / "data" / "sample_chat.jsonl"
CHAT_LINE = json.dumps(
    {"messages": [{"role": "user", "content": "abcd" * 5}, {"role": "assistant", "content": "ok"}]}
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000_000)


@pytest.fixture
def state(clock: ManualClock) -> FakeOpenAIState:
    return FakeOpenAIState(
        clock=clock,
        durations={"validating_files": 1, "queued": 2, "running": 3},
        count_text_tokens=approximate_text_tokens,
    )


@pytest.fixture
async def http(state: FakeOpenAIState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_fake_openai_app(state))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://fake", headers={"Authorization": "Bearer k"}
    ) as client:
        yield client


def _file(state: FakeOpenAIState, examples: int = 5, line: str = CHAT_LINE) -> str:
    return state.add_file("t.jsonl", ("\n".join([line] * examples) + "\n").encode())


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [(1, 25), (4, 25), (5, 20), (33, 3), (34, 3), (8_333, 3), (8_334, 2), (30_000, 1)],
)
def test_default_n_epochs_rule(n_examples: int, epochs: int) -> None:
    assert default_n_epochs(n_examples) == epochs


def test_job_progresses_on_the_injected_clock(state: FakeOpenAIState, clock: ManualClock) -> None:
    job_id = state.create_job({"model": "gpt-3.5-turbo", "training_file": _file(state)})["id"]
    seen = []
    for _ in range(7):
        seen.append(state.retrieve_job(job_id)["status"])
        clock.advance(1)
    assert seen == [
        "validating_files",
        "queued",
        "queued",
        "running",
        "running",
        "running",
        "succeeded",
    ]
    job = state.retrieve_job(job_id)
    # chars/4 per value: 3 priming + (3 + "user" 1 + content 5) + (3 + "assistant" 3 + "ok" 1)
    # = 19 per example, 5 examples, auto epochs for 5 examples = 20.
    assert job["trained_tokens"] == 19 * 5 * 20
    assert job["hyperparameters"]["n_epochs"] == 20
    assert job["model"] == "gpt-3.5-turbo-0125" and job["finished_at"] == 1_000_006
    events = state.list_events(job_id, limit=100)["data"]
    assert [e["created_at"] - 1_000_000 for e in reversed(events)] == [0, 0, 1, 3, 6, 6, 6]


@pytest.mark.parametrize(
    ("model", "billing_tokens"), [("gpt-3.5-turbo-0613", 4_306), ("gpt-3.5-turbo-0125", 8_242)]
)
def test_trained_tokens_match_the_cookbook_on_the_toy_file(
    clock: ManualClock, model: str, billing_tokens: int
) -> None:
    # With the project's tokenizer the fake reproduces DESIGN.md's cookbook figures, so an
    # estimate made by the pricing core and the fake's "actual" agree on the toy file.
    tokens = pytest.importorskip("pricing.tokens")
    state = FakeOpenAIState(clock=clock, count_text_tokens=tokens.count_text_tokens)
    file_id = state.add_file("toy.jsonl", TOY_FILE.read_bytes())
    job_id = state.create_job({"model": model, "training_file": file_id})["id"]
    clock.advance(10)
    job = state.retrieve_job(job_id)
    assert job["hyperparameters"]["n_epochs"] == 20
    assert job["trained_tokens"] == billing_tokens * 20


def test_completion_models_count_prompt_and_completion(
    state: FakeOpenAIState, clock: ManualClock
) -> None:
    line = json.dumps({"prompt": "a" * 8, "completion": "b" * 4})
    file_id = _file(state, examples=50, line=line)
    job_id = state.create_job(
        {"model": "babbage-002", "training_file": file_id, "hyperparameters": {"n_epochs": 2}}
    )["id"]
    clock.advance(10)
    assert state.retrieve_job(job_id)["trained_tokens"] == 50 * 3 * 2


def test_examples_are_capped_at_the_model_limit(state: FakeOpenAIState, clock: ManualClock) -> None:
    huge = json.dumps({"messages": [{"role": "assistant", "content": "x" * 40_000}]})
    job_id = state.create_job(
        {
            "model": "gpt-3.5-turbo-0613",
            "training_file": _file(state, 1, huge),
            "hyperparameters": {"n_epochs": 1},
        }
    )["id"]
    clock.advance(10)
    assert state.retrieve_job(job_id)["trained_tokens"] == 4096


def test_invalid_training_file_fails_during_validation(
    state: FakeOpenAIState, clock: ManualClock
) -> None:
    file_id = state.add_file("bad.jsonl", (CHAT_LINE + "\n{oops\n").encode())
    job_id = state.create_job({"model": "gpt-4o-mini", "training_file": file_id})["id"]
    clock.advance(1)
    job = state.retrieve_job(job_id)
    assert job["status"] == "failed" and job["finished_at"] == 1_000_001
    assert job["error"]["code"] == "invalid_training_file"
    assert "Line 2" in job["error"]["message"] and job["error"]["param"] == "training_file"


def test_min_training_examples_is_configurable(clock: ManualClock) -> None:
    state = FakeOpenAIState(
        clock=clock, min_training_examples=10, count_text_tokens=approximate_text_tokens
    )
    job_id = state.create_job({"model": "gpt-4o-mini", "training_file": _file(state, 5)})["id"]
    clock.advance(10)
    assert "at least 10 examples" in state.retrieve_job(job_id)["error"]["message"]


def test_fail_next_job_fails_at_the_end(state: FakeOpenAIState, clock: ManualClock) -> None:
    state.fail_next_job(code="internal", message="GPU on fire", param=None)
    failing = state.create_job({"model": "gpt-4o-mini", "training_file": _file(state)})["id"]
    fine = state.create_job({"model": "gpt-4o-mini", "training_file": _file(state)})["id"]
    clock.advance(5)
    assert state.retrieve_job(failing)["status"] == "running"
    clock.advance(1)
    assert state.retrieve_job(failing)["error"] == {
        "code": "internal",
        "message": "GPU on fire",
        "param": None,
    }
    assert state.retrieve_job(fine)["status"] == "succeeded"
    assert state.list_events(failing)["data"][0]["level"] == "error"


def test_cancel_only_active_jobs(state: FakeOpenAIState, clock: ManualClock) -> None:
    job_id = state.create_job({"model": "gpt-4o-mini", "training_file": _file(state)})["id"]
    assert state.cancel_job(job_id)["status"] == "cancelled"
    clock.advance(100)
    assert state.retrieve_job(job_id)["status"] == "cancelled"
    with pytest.raises(FakeOpenAIError) as caught:
        state.cancel_job(job_id)
    assert caught.value.status == 400


def test_create_validation(state: FakeOpenAIState) -> None:
    file_id = _file(state)
    bad_bodies: dict[str, dict[str, Any]] = {
        "model": {"model": "gpt-4-0314", "training_file": file_id},
        "training_file": {"model": "gpt-4o-mini"},
        "hyperparameters.n_epochs": {
            "model": "gpt-4o-mini",
            "training_file": file_id,
            "hyperparameters": {"n_epochs": 0},
        },
        "hyperparameters": {
            "model": "gpt-4o-mini",
            "training_file": file_id,
            "hyperparameters": {"epochs": 3},
        },
        "suffix": {"model": "gpt-4o-mini", "training_file": file_id, "suffix": "x" * 65},
        "metadata": {"model": "gpt-4o-mini", "training_file": file_id, "metadata": [1]},
    }
    for param, body in bad_bodies.items():
        with pytest.raises(FakeOpenAIError) as caught:
            state.create_job(body)
        assert (caught.value.status, caught.value.param) == (400, param)
    assert state.jobs == []


def test_continued_fine_tuning_of_a_produced_model(
    state: FakeOpenAIState, clock: ManualClock
) -> None:
    file_id = _file(state)
    first = state.create_job({"model": "gpt-4o-mini", "training_file": file_id})["id"]
    clock.advance(10)
    produced = state.retrieve_job(first)["fine_tuned_model"]
    assert produced.startswith("ft:gpt-4o-mini-2024-07-18:fake-org::")
    second = state.create_job({"model": produced, "training_file": file_id})
    assert second["model"] == produced
    with pytest.raises(FakeOpenAIError):
        state.create_job({"model": "ft:gpt-4o-mini-2024-07-18:x::abc", "training_file": file_id})


async def test_list_filters_and_limits(http: httpx.AsyncClient, state: FakeOpenAIState) -> None:
    file_id = _file(state)
    tagged = state.create_job(
        {"model": "gpt-4o-mini", "training_file": file_id, "metadata": {"a": "1", "b": "2"}}
    )["id"]
    untagged = [
        state.create_job({"model": "gpt-4o-mini", "training_file": file_id})["id"]
        for _ in range(120)
    ]

    both = await http.get("/v1/fine_tuning/jobs", params={"metadata[a]": "1", "metadata[b]": "2"})
    assert [j["id"] for j in both.json()["data"]] == [tagged]
    wrong = await http.get("/v1/fine_tuning/jobs", params={"metadata[a]": "1", "metadata[b]": "3"})
    assert wrong.json()["data"] == []
    null = await http.get("/v1/fine_tuning/jobs", params={"metadata": "null", "limit": 1000})
    assert len(null.json()["data"]) == 100 and null.json()["has_more"]  # limit clamped to 100
    assert null.json()["data"][0]["id"] == untagged[-1]
    default = await http.get("/v1/fine_tuning/jobs")
    assert len(default.json()["data"]) == 20
    bad_cursor = await http.get("/v1/fine_tuning/jobs", params={"after": "ftjob-nope"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["param"] == "after"


async def test_admin_endpoints_drive_faults_and_report_counts(
    http: httpx.AsyncClient, state: FakeOpenAIState
) -> None:
    added = await http.post(
        "/_fake/faults",
        json={"kind": "server_error", "status": 503, "method": "GET", "path": "/v1/files/*"},
    )
    assert added.status_code == 200
    file_id = _file(state)

    assert (await http.get(f"/v1/files/{file_id}")).status_code == 503
    assert (await http.get(f"/v1/files/{file_id}")).status_code == 200  # fault spent

    await http.post("/_fake/faults", json={"kind": "rate_limit", "times": 2})
    await http.delete("/_fake/faults")
    assert (await http.get("/v1/files")).status_code == 200

    counts = (await http.get("/_fake/requests")).json()["counts"]
    assert counts == {"GET /v1/files/{file_id}": 2, "GET /v1/files": 1}

    bad = await http.post("/_fake/faults", json={"kind": "meteor"})
    assert bad.status_code == 422


async def test_admin_job_failure(http: httpx.AsyncClient, state: FakeOpenAIState) -> None:
    job_id = state.create_job({"model": "gpt-4o-mini", "training_file": _file(state)})["id"]
    failed = await http.post(f"/_fake/jobs/{job_id}/fail", json={"code": "x", "message": "y"})
    assert failed.json()["status"] == "failed"
    assert failed.json()["error"] == {"code": "x", "message": "y", "param": None}

    await http.post("/_fake/fail_next_job", json={"message": "later"})
    nxt = state.create_job({"model": "gpt-4o-mini", "training_file": _file(state)})["id"]
    assert state.job(nxt).planned_error == {
        "code": "server_error",
        "message": "later",
        "param": None,
    }


async def test_fine_tune_uploads_must_be_jsonl(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/files", files={"file": ("data.csv", b"a,b\n")}, data={"purpose": "fine-tune"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Invalid file format for Fine-Tuning API. Must be .jsonl"
    )


@pytest.mark.slow
def test_runs_as_a_module(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "train.jsonl"
    data.write_text(CHAT_LINE + "\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.fakes.openai",
            "--port",
            str(port),
            "--file",
            str(data),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        file_id = process.stdout.readline().split("\t")[0]
        assert file_id.startswith("file-")
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/v1/files/{file_id}",
                    headers={"Authorization": "Bearer k"},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        assert response.status_code == 200 and response.json()["filename"] == "train.jsonl"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_checkpoints__one_per_epoch_while_running_and_the_last_at_success(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock
) -> None:
    # 5 examples, batch 1: 5 steps an epoch; running lasts 3 s, so one epoch a second.
    job_id = state.create_job(
        {
            "model": "gpt-4o-mini",
            "training_file": _file(state),
            "suffix": "ck",
            "hyperparameters": {"n_epochs": 3, "batch_size": 1},
        }
    )["id"]
    url = f"/v1/fine_tuning/jobs/{job_id}/checkpoints"

    async def steps() -> list[int]:
        return [c["step_number"] for c in (await http.get(url)).json()["data"]]

    clock.advance(3)  # validated and queued: running starts now
    assert state.retrieve_job(job_id)["status"] == "running"
    assert await steps() == []
    clock.advance(1)
    assert await steps() == [5]
    clock.advance(1)
    assert await steps() == [10, 5]
    clock.advance(1)
    job = state.retrieve_job(job_id)
    assert job["status"] == "succeeded"
    listing = (await http.get(url)).json()
    assert [c["step_number"] for c in listing["data"]] == [15, 10, 5]
    final = listing["data"][0]
    assert final["fine_tuned_model_checkpoint"] == f"{job['fine_tuned_model']}:ckpt-step-15"
    assert final["created_at"] == job["finished_at"]
    assert final["fine_tuning_job_id"] == job_id
    assert listing["first_id"] == final["id"] and listing["last_id"] == listing["data"][-1]["id"]
    assert listing["has_more"] is False


async def test_checkpoints__after_and_limit_paginate_newest_first(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock
) -> None:
    job_id = state.create_job(
        {
            "model": "gpt-4o-mini",
            "training_file": _file(state),
            "hyperparameters": {"n_epochs": 3, "batch_size": 5},
        }
    )["id"]
    clock.advance(10)
    url = f"/v1/fine_tuning/jobs/{job_id}/checkpoints"
    first = (await http.get(url, params={"limit": 2})).json()
    assert [c["step_number"] for c in first["data"]] == [3, 2]
    assert first["has_more"] is True
    rest = (await http.get(url, params={"limit": 2, "after": first["last_id"]})).json()
    assert [c["step_number"] for c in rest["data"]] == [1]
    assert rest["has_more"] is False
    bad_cursor = await http.get(url, params={"after": "ftckpt_nope"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["param"] == "after"
    assert (await http.get(url, params={"limit": 0})).status_code == 400
    missing = await http.get("/v1/fine_tuning/jobs/ftjob-nope/checkpoints")
    assert missing.status_code == 404


async def test_checkpoints__a_cancelled_job_keeps_only_the_epochs_it_finished(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock
) -> None:
    job_id = state.create_job(
        {
            "model": "gpt-4o-mini",
            "training_file": _file(state),
            "hyperparameters": {"n_epochs": 3, "batch_size": 5},
        }
    )["id"]
    clock.advance(4.5)  # 1.5 epochs into running
    await http.post(f"/v1/fine_tuning/jobs/{job_id}/cancel")
    clock.advance(10)
    listing = (await http.get(f"/v1/fine_tuning/jobs/{job_id}/checkpoints")).json()
    assert [c["step_number"] for c in listing["data"]] == [1]


async def test_models__lists_base_models_aliases_and_fine_tuned_models(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock
) -> None:
    job_id = state.create_job({"model": "gpt-4o-mini", "training_file": _file(state)})["id"]
    before = {m["id"] for m in (await http.get("/v1/models")).json()["data"]}
    assert {"gpt-4o-mini", "gpt-4o-mini-2024-07-18", "davinci-002"} <= before
    assert not any(model.startswith("ft:") for model in before)

    clock.advance(10)
    fine_tuned = state.retrieve_job(job_id)["fine_tuned_model"]
    listing = (await http.get("/v1/models")).json()
    assert fine_tuned in {m["id"] for m in listing["data"]}
    one = (await http.get(f"/v1/models/{fine_tuned}")).json()
    assert one["owned_by"] == state.organization_id and one["object"] == "model"
    missing = await http.get("/v1/models/gpt-nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
