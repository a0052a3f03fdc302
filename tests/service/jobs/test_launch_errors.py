"""Job preview, launch and estimate-from-file errors name the caller's file, never a server path."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests.service.jobs.conftest import SQLITE_ONLY, TEN_EXAMPLES, JobsEnv

pytestmark = SQLITE_ONLY

BAD_FILES: dict[str, bytes] = {
    "empty": b"",
    "blank_lines": b"\n\n",
    "not_json": b"{nope\n" * 12,
    "too_few_examples": TEN_EXAMPLES.splitlines(keepends=True)[0],
}


def server_paths(env: JobsEnv) -> list[str]:
    paths = [tempfile.gettempdir(), os.getcwd(), str(env.settings.upload_dir)]
    return [p for p in paths if p and p != "/"]


@pytest.mark.parametrize("endpoint", ["/v1/jobs/preview", "/v1/jobs"])
@pytest.mark.parametrize("content", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_launch_errors__no_problem_carries_a_server_path(
    env: JobsEnv, endpoint: str, content: bytes
) -> None:
    file_id = env.upload(content)

    response = env.launcher.post(endpoint, json=env.body(training_file=file_id))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    for path in server_paths(env):
        assert path not in response.text, (path, response.text)
    assert file_id in response.json()["detail"]


def test_launch_errors__an_empty_file_is_named_by_its_file_id(env: JobsEnv) -> None:
    file_id = env.upload(b"")

    response = env.launcher.post("/v1/jobs/preview", json=env.body(training_file=file_id))

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"the training file is empty: {file_id}"


@pytest.mark.parametrize("content", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_launch_errors__estimate_from_an_uploaded_file_carries_no_server_path(
    env: JobsEnv, content: bytes
) -> None:
    response = env.admin.post(
        "/v1/estimates/training/file",
        files={"file": ("train.jsonl", content, "application/jsonl")},
        data={"model": "gpt-4o-mini"},
    )

    # An estimate takes a single example (with a warning); the rest are refused.
    assert response.status_code in (201, 422), response.text
    for path in server_paths(env):
        assert path not in response.text, (path, response.text)
