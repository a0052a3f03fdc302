"""Bad input is the client's error, never a server one: control characters in the request line,
values the database cannot store, and a bounded schemathesis sweep over the service's own OpenAPI
document with every check schemathesis has (no 5xx; status codes, content types, headers and
bodies as documented; invalid data refused; valid data accepted or refused with a reason; 405s
with Allow), about 500 cases a run, deterministic.

Runs the schemathesis CLI against `ratecard serve --demo` (the service wired to the loopback fake
OpenAI API, so job endpoints are really exercised) on a loopback port: every operation with
generated data, once with an admin key and once with none. RATECARD_FUZZ_EXAMPLES raises the
bound for a full sweep.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from service.problems import install_problem_handlers, is_transient
from tests.service.test_serve import serve

KEY = "rc_0b636642640ad1b559d82c7a26733425fb9185a5ae730786d2982a61f73e2604"
EXAMPLES = os.environ.get("RATECARD_FUZZ_EXAMPLES", "10")
CLI = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which(
    "schemathesis"
)


def sweep(base: str, headers: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert CLI is not None, "schemathesis is a test dependency"
    args = [
        CLI,
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        # Deterministic generation: the same cases on every run (the seed is then unused).
        "--seed",
        "20261206",
        "--max-examples",
        EXAMPLES,
        "--generation-deterministic",
        "--request-timeout",
        "30",
        # Revoking keys would revoke the sweep's own key and turn the rest of the run into 401s.
        "--exclude-path-regex",
        "^/v1/keys/",
        "--phases",
        "examples,fuzzing",
    ]
    for header in headers:
        args += ["-H", header]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )


# About 15 s each (500 cases), so not marked slow.
@pytest.mark.parametrize("with_key", [True, False], ids=["admin-key", "no-key"])
def test_openapi__generated_requests_pass_every_schemathesis_check(tmp_path, with_key):
    env = {"RATECARD_ADMIN_API_KEY": KEY, "RATECARD_WEBHOOK_ALLOW_LOOPBACK": "false"}
    with serve(tmp_path, env, args=("--demo",)) as (base, _log):
        result = sweep(base, [f"Authorization: Bearer {KEY}"] if with_key else [], tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs?team=%00",
        "/v1/budgets/%00x",
        "/v1/budgets/a%0Ab",
        "/v1/estimates?kind=%7F",
        "/v1/jobs?team=a+%00",
    ],
)
def test_request_line__control_characters_are_refused_as_bad_input(api, caplog, path):
    response = api.admin.get(path)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Retry-After" not in response.headers
    assert "control characters" in response.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def _db_error(orig: Exception) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("orig", "status"),
    [
        (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), 422),
        (psycopg.OperationalError("connection refused"), 503),
    ],
    ids=["nul-in-a-value", "server-unreachable"],
)
def test_database_error__refused_data_is_bad_input_and_only_a_lost_server_is_an_outage(
    orig, status
):
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/store")
    def store() -> None:
        raise _db_error(orig)

    response = TestClient(app, raise_server_exceptions=False).post("/store")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert ("Retry-After" in response.headers) == (status == 503)


def test_is_transient__only_connection_level_errors_are_transient():
    assert is_transient(_db_error(psycopg.OperationalError("connection refused")))
    assert not is_transient(
        _db_error(psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))
    )
    assert not is_transient(_db_error(psycopg.ProgrammingError("syntax error")))
