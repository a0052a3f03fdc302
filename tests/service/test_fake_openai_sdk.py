"""The official ``openai`` SDK drives the fake through the whole fine-tuning flow.

The fake claims to speak the API the SDK uses; this proves it with the SDK's own request
building, response parsing and cursor pagination (over an in-process ASGI transport).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.fake_openai import (
    FakeOpenAIState,
    ManualClock,
    approximate_text_tokens,
    create_fake_openai_app,
)

TOY_FILE = Path(__file__).resolve().parents[2] / "pricing" / "data" / "sample_chat.jsonl"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000_000)


@pytest.fixture
def state(clock: ManualClock) -> FakeOpenAIState:
    return FakeOpenAIState(clock=clock, step_seconds=10, count_text_tokens=approximate_text_tokens)


@pytest.fixture
async def sdk(state: FakeOpenAIState) -> AsyncIterator[openai.AsyncOpenAI]:
    transport = httpx.ASGITransport(app=create_fake_openai_app(state))
    async with httpx.AsyncClient(transport=transport) as http:
        yield openai.AsyncOpenAI(
            api_key="sk-sdk", base_url="http://fake/v1", http_client=http, max_retries=0
        )


async def test_sdk__uploads_fine_tunes_and_reads_back_everything(
    sdk: openai.AsyncOpenAI, state: FakeOpenAIState, clock: ManualClock
) -> None:
    uploaded = await sdk.files.create(
        file=("toy.jsonl", TOY_FILE.read_bytes()), purpose="fine-tune"
    )
    assert uploaded.purpose == "fine-tune" and uploaded.bytes == TOY_FILE.stat().st_size

    created = [
        await sdk.fine_tuning.jobs.create(
            model="gpt-4o-mini",
            training_file=uploaded.id,
            suffix=f"sdk{n}",
            metadata={"launch_id": f"L{n}"},
            method={
                "type": "supervised",
                "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 1}},
            },
        )
        for n in range(3)
    ]
    assert created[0].status == "validating_files"
    assert created[0].model == "gpt-4o-mini-2024-07-18"

    clock.advance(30)
    job = await sdk.fine_tuning.jobs.retrieve(created[0].id)
    assert job.status == "succeeded" and job.fine_tuned_model is not None
    assert job.trained_tokens == (state.job(job.id).billing_tokens or 0) * 3
    assert job.metadata == {"launch_id": "L0"}

    # limit=1 makes the SDK follow the `after` cursor page by page.
    listed = [j.id async for j in sdk.fine_tuning.jobs.list(limit=1)]
    assert listed == [j.id for j in reversed(created)]
    tagged = await sdk.fine_tuning.jobs.list(metadata={"launch_id": "L1"})
    assert [j.id for j in tagged.data] == [created[1].id]

    events = [e async for e in sdk.fine_tuning.jobs.list_events(job.id, limit=2)]
    assert events[0].message == "The job has successfully completed"
    assert events[-1].message == f"Created fine-tuning job: {job.id}"

    checkpoints = [c async for c in sdk.fine_tuning.jobs.checkpoints.list(job.id, limit=1)]
    assert [c.step_number for c in checkpoints] == [15, 10, 5]
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-15"
    assert checkpoints[0].metrics.train_loss is not None

    models = [m.id async for m in sdk.models.list()]
    assert job.fine_tuned_model in models and "gpt-4o-mini" in models
    assert (await sdk.models.retrieve(job.fine_tuned_model)).owned_by == state.organization_id


async def test_sdk__errors_surface_as_the_sdks_exceptions(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await sdk.fine_tuning.jobs.retrieve("ftjob-missing")
    with pytest.raises(openai.BadRequestError) as bad:
        await sdk.fine_tuning.jobs.create(model="nope", training_file="file-x")
    assert bad.value.code == "model_not_available"
