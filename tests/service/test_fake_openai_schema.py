"""The fake OpenAI API's responses validate against OpenAI's published OpenAPI schemas.

The 3 MB spec is parsed once per session. It is OpenAPI 3.1 (JSON Schema 2020-12) with a few
3.0 leftovers (``nullable: true``, boolean ``exclusiveMinimum``) that are rewritten to their
2020-12 meaning before validating, otherwise jsonschema would misread them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from service.openai import OpenAIClient
from tests.fakes.fake_openai import (
    FakeOpenAIState,
    ManualClock,
    approximate_text_tokens,
    create_fake_openai_app,
)

# The shared reference folder sits beside the repository checkout (../shared);
# RATECARD_OPENAI_SPEC points elsewhere (a checkout in a git worktree folder).
SPEC_PATH = Path(
    os.environ.get("RATECARD_OPENAI_SPEC")
    or Path(__file__).resolve().parents[3] / "shared" / "reference" / "openai-openapi.yaml"
)

TOY_FILE = SPEC_PATH.parent / "toy_chat_fine_tuning.jsonl"

Validate = Callable[[Any, str], None]


def _to_2020_12(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 keywords left in the 3.1 document into JSON Schema 2020-12."""
    if isinstance(node, list):
        return [_to_2020_12(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {key: _to_2020_12(value) for key, value in node.items()}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if schema.get(exclusive) is True and bound in schema:
            schema[exclusive] = schema.pop(bound)
        elif schema.get(exclusive) is False:
            del schema[exclusive]
    if schema.pop("nullable", False):
        if isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        else:
            schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


@pytest.fixture(scope="session")
def openapi_components() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        pytest.skip(f"the official OpenAI spec is not beside the checkout ({SPEC_PATH})")
    with SPEC_PATH.open("rb") as fh:
        # The C loader when PyYAML has it: same safe subset, ~10x faster on 3 MB.
        spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    components: dict[str, Any] = _to_2020_12(spec["components"])
    return components


@pytest.fixture(scope="session")
def validate(openapi_components: dict[str, Any]) -> Validate:
    validators: dict[str, Draft202012Validator] = {}

    def check(instance: Any, schema_name: str) -> None:
        if schema_name not in validators:
            root = {"$ref": f"#/components/schemas/{schema_name}", "components": openapi_components}
            Draft202012Validator.check_schema(root)
            validators[schema_name] = Draft202012Validator(root)
        errors = sorted(validators[schema_name].iter_errors(instance), key=str)
        assert not errors, f"{schema_name}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )
        # The schemas allow extra fields; the fake should not invent any at the top level.
        properties = openapi_components["schemas"][schema_name].get("properties", {})
        if properties and isinstance(instance, dict):
            assert set(instance) <= set(properties), set(instance) - set(properties)

    return check


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def state(clock: ManualClock) -> FakeOpenAIState:
    return FakeOpenAIState(clock=clock, step_seconds=10, count_text_tokens=approximate_text_tokens)


@pytest.fixture
async def http(state: FakeOpenAIState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_fake_openai_app(state))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://fake/v1/",
        headers={"Authorization": "Bearer sk-test"},
    ) as client:
        yield client


def _create(state: FakeOpenAIState, file_id: str, **extra: Any) -> str:
    return str(
        state.create_job({"model": "gpt-3.5-turbo-0613", "training_file": file_id, **extra})["id"]
    )


async def test_file_objects_and_list(
    http: httpx.AsyncClient, state: FakeOpenAIState, validate: Validate
) -> None:
    empty = await http.get("files")
    validate(empty.json(), "ListFilesResponse")

    uploaded = await http.post(
        "files",
        files={"file": ("toy.jsonl", TOY_FILE.read_bytes())},
        data={"purpose": "fine-tune"},
    )
    assert uploaded.status_code == 200
    validate(uploaded.json(), "OpenAIFile")
    file_id = uploaded.json()["id"]
    assert uploaded.json()["bytes"] == TOY_FILE.stat().st_size

    validate((await http.get(f"files/{file_id}")).json(), "OpenAIFile")
    listing = (await http.get("files", params={"purpose": "fine-tune"})).json()
    validate(listing, "ListFilesResponse")
    assert [f["id"] for f in listing["data"]] == [file_id]
    assert (await http.get(f"files/{file_id}/content")).content == TOY_FILE.read_bytes()


async def test_jobs_in_every_status_validate(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock, validate: Validate
) -> None:
    good = state.add_file("toy.jsonl", TOY_FILE.read_bytes())
    broken = state.add_file("broken.jsonl", b'{"messages": []}\nnot json\n')
    succeeding = _create(state, good, suffix="demo", metadata={"launch_id": "L1"})
    cancelled = _create(state, good, hyperparameters={"n_epochs": 2, "batch_size": 1})
    invalid_file = _create(state, broken)
    failing = _create(state, good, seed=3)
    statuses = set()

    for step in range(4):
        if step == 1:
            await http.post(f"fine_tuning/jobs/{cancelled}/cancel")
        if step == 2:
            state.fail_job(failing, code="server_error", message="boom", param=None)
        for job_id in (succeeding, cancelled, invalid_file, failing):
            response = await http.get(f"fine_tuning/jobs/{job_id}")
            assert response.status_code == 200
            validate(response.json(), "FineTuningJob")
            statuses.add(response.json()["status"])
            events = await http.get(f"fine_tuning/jobs/{job_id}/events", params={"limit": 3})
            validate(events.json(), "ListFineTuningJobEventsResponse")
        listing = await http.get("fine_tuning/jobs", params={"limit": 2})
        validate(listing.json(), "ListPaginatedFineTuningJobsResponse")
        clock.advance(10)

    assert statuses == {"validating_files", "queued", "running", "succeeded", "failed", "cancelled"}
    done = (await http.get(f"fine_tuning/jobs/{succeeding}")).json()
    assert done["hyperparameters"]["n_epochs"] == 20  # 5 examples, "auto"
    billing_tokens = state.job(succeeding).billing_tokens
    assert billing_tokens and done["trained_tokens"] == billing_tokens * 20
    assert (await http.get(f"fine_tuning/jobs/{invalid_file}")).json()["error"][
        "code"
    ] == "invalid_training_file"
    all_events = (await http.get(f"fine_tuning/jobs/{succeeding}/events")).json()
    validate(all_events, "ListFineTuningJobEventsResponse")
    for event in all_events["data"]:
        validate(event, "FineTuningJobEvent")


async def test_checkpoints_validate_as_they_appear(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock, validate: Validate
) -> None:
    file_id = state.add_file("toy.jsonl", TOY_FILE.read_bytes())
    job_id = _create(state, file_id, suffix="ck", hyperparameters={"n_epochs": 3})
    url = f"fine_tuning/jobs/{job_id}/checkpoints"
    seen = []
    for _ in range(8):
        listing = (await http.get(url, params={"limit": 2})).json()
        validate(listing, "ListFineTuningJobCheckpointsResponse")
        for checkpoint in listing["data"]:
            validate(checkpoint, "FineTuningJobCheckpoint")
        seen.append(len(listing["data"]))
        clock.advance(5)
    assert seen[0] == 0 and seen[-1] == 2  # empty while validating, a page once done
    everything = (await http.get(url)).json()
    validate(everything, "ListFineTuningJobCheckpointsResponse")
    assert len(everything["data"]) == 3


async def test_models_validate(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock, validate: Validate
) -> None:
    _create(state, state.add_file("toy.jsonl", TOY_FILE.read_bytes()))
    clock.advance(60)
    listing = (await http.get("models")).json()
    validate(listing, "ListModelsResponse")
    for model in listing["data"]:
        validate(model, "Model")
    fine_tuned = state.jobs[0].fine_tuned_model
    assert fine_tuned is not None
    validate((await http.get(f"models/{fine_tuned}")).json(), "Model")
    validate((await http.get("models/gpt-nope")).json(), "ErrorResponse")


async def test_usage_and_costs_pages_validate(
    http: httpx.AsyncClient, state: FakeOpenAIState, clock: ManualClock, validate: Validate
) -> None:
    day = 86_400
    start = int(clock()) - int(clock()) % day - 2 * day
    state.add_completions_usage(
        at=start + 5, model="gpt-4o-mini", input_tokens=9, output_tokens=2, project_id="p"
    )
    state.add_cost(
        at=start + 5,
        amount=Decimal("0.25"),
        line_item="gpt-4o-mini, input",
        quantity=9,
        quantity_unit="tokens",
    )
    pages = [
        await http.get("organization/usage/completions", params={"start_time": start}),
        await http.get(
            "organization/usage/completions",
            params={
                "start_time": start,
                "bucket_width": "1h",
                "limit": 2,
                "group_by": ["model", "project_id", "batch", "service_tier"],
            },
        ),
        await http.get("organization/costs", params={"start_time": start}),
        await http.get(
            "organization/costs",
            params={"start_time": start, "limit": 1, "group_by": ["line_item", "project_id"]},
        ),
    ]
    for response in pages:
        assert response.status_code == 200
        page = response.json()
        validate(page, "UsageResponse")
        for bucket in page["data"]:
            validate(bucket, "UsageTimeBucket")
    assert pages[1].json()["has_more"] is True and pages[3].json()["next_page"]
    usage_result = pages[0].json()["data"][0]["results"][0]
    validate(usage_result, "UsageCompletionsResult")
    validate(pages[2].json()["data"][0]["results"][0], "CostsResult")
    validate(pages[3].json()["data"][0]["results"][0], "CostsResult")
    missing = await http.get("organization/costs")
    validate(missing.json(), "ErrorResponse")


async def test_usage_grouped_by_batch_reports_every_field_of_the_spec(
    http: httpx.AsyncClient,
    state: FakeOpenAIState,
    clock: ManualClock,
    validate: Validate,
    openapi_components: dict[str, Any],
) -> None:
    day = 86_400
    start = int(clock()) - int(clock()) % day - day
    state.add_completions_usage(
        at=start + 5,
        model="gpt-5.6",
        input_tokens=1000,
        input_cached_tokens=400,
        input_cache_write_tokens=100,
        output_tokens=50,
    )
    state.add_completions_usage(
        at=start + 9, model="gpt-5.6", input_tokens=300, input_cached_tokens=30, output_tokens=5,
        batch=True,
    )  # fmt: skip
    url = "organization/usage/completions"
    grouped = (await http.get(url, params={"start_time": start, "group_by": "batch"})).json()
    results = {r["batch"]: r for r in grouped["data"][0]["results"]}
    spec_fields = set(openapi_components["schemas"]["UsageCompletionsResult"]["properties"])
    for result in results.values():
        validate(result, "UsageCompletionsResult")
        assert set(result) == spec_fields  # every field the spec lists, none invented
        # input_tokens includes cached and cache-write tokens; the uncached count excludes both.
        assert result["input_tokens"] == (
            result["input_uncached_tokens"]
            + result["input_cached_tokens"]
            + result["input_cache_write_tokens"]
        )
        assert result["input_text_tokens"] == result["input_uncached_tokens"]  # all text here
        assert result["model"] is None  # not grouped by model
    assert set(results) == {False, True}
    assert (results[False]["input_cached_tokens"], results[False]["input_cache_write_tokens"]) == (
        400,
        100,
    )
    assert results[False]["input_uncached_tokens"] == 500
    assert (results[True]["input_tokens"], results[True]["input_cached_tokens"]) == (300, 30)
    together = (await http.get(url, params={"start_time": start})).json()
    (total,) = together["data"][0]["results"]
    assert total["batch"] is None and total["input_cached_tokens"] == 430  # not grouped: null


async def test_error_responses_validate(
    http: httpx.AsyncClient, state: FakeOpenAIState, validate: Validate
) -> None:
    file_id = state.add_file("toy.jsonl", TOY_FILE.read_bytes())
    responses = [
        await http.post("fine_tuning/jobs", json={"model": "nope", "training_file": file_id}),
        await http.post("fine_tuning/jobs", json={"model": "davinci-002", "training_file": "x"}),
        await http.post("fine_tuning/jobs", content=b"not json"),
        await http.get("fine_tuning/jobs/ftjob-missing"),
        await http.get("files/file-missing"),
        await http.get("unknown/route"),
        await http.get("files", headers={"Authorization": ""}),
    ]
    state.inject_fault("rate_limit", path="/v1/files/*")
    state.inject_fault("insufficient_quota", path="/v1/files/*")
    state.inject_fault("server_error", path="/v1/files/*", status=503)
    responses += [await http.get(f"files/{file_id}") for _ in range(3)]
    assert [r.status_code for r in responses] == [400, 400, 400, 404, 404, 404, 401, 429, 429, 503]
    for response in responses:
        validate(response.json(), "ErrorResponse")
    assert responses[7].headers["retry-after-ms"] == "20"


async def test_client_create_request_validates(
    state: FakeOpenAIState, validate: Validate, tmp_path: Path
) -> None:
    file_id = state.add_file("toy.jsonl", TOY_FILE.read_bytes())
    transport = httpx.ASGITransport(app=create_fake_openai_app(state))
    async with OpenAIClient(base_url="http://fake/v1", api_key="sk-x", transport=transport) as c:
        job = await c.create_job(
            model="gpt-4o-mini",
            training_file=file_id,
            hyperparameters={"n_epochs": 3, "learning_rate_multiplier": 0.5, "batch_size": "auto"},
            suffix="s",
            validation_file=file_id,
            metadata={"launch_id": "L9"},
            seed=1,
        )
        await c.create_job(model="babbage-002", training_file=file_id)
        assert (await c.download_file(file_id, tmp_path / "t.jsonl")) == TOY_FILE.stat().st_size

    assert job.metadata == {"launch_id": "L9"}
    assert len(state.create_job_requests) == 2
    for body in state.create_job_requests:
        validate(body, "CreateFineTuningJobRequest")


def test_validation_is_not_vacuous(validate: Validate, state: FakeOpenAIState) -> None:
    job = state.create_job(
        {"model": "gpt-4o-mini", "training_file": state.add_file("t.jsonl", b"{}")}
    )
    validate(job, "FineTuningJob")
    for broken in (
        {**job, "status": "paused"},
        {key: value for key, value in job.items() if key != "seed"},
        {**job, "hyperparameters": {"learning_rate_multiplier": 0}},
        {**job, "invented": 1},
    ):
        with pytest.raises(AssertionError):
            validate(broken, "FineTuningJob")


def test_nullable_rewrite_is_understood() -> None:
    schema = _to_2020_12(
        {"type": "number", "minimum": 0, "exclusiveMinimum": True, "nullable": True}
    )
    validator = Draft202012Validator(schema)
    assert validator.is_valid(None) and validator.is_valid(0.5)
    assert not validator.is_valid(0)
    assert schema == {"type": ["number", "null"], "exclusiveMinimum": 0}
