"""Bounded schemathesis sweep over the service's own OpenAPI document: no input may cause a 5xx.

Runs the schemathesis CLI against `ratecard serve --demo` (the service wired to the loopback fake
OpenAI API, so job endpoints are really exercised) on a loopback port: every operation with
generated data, once with an admin key and once with none. RATECARD_FUZZ_EXAMPLES raises the
bound for a full sweep.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.test_serve import serve

pytestmark = pytest.mark.slow
KEY = "rc_0b636642640ad1b559d82c7a26733425fb9185a5ae730786d2982a61f73e2604"
EXAMPLES = os.environ.get("RATECARD_FUZZ_EXAMPLES", "10")
CLI = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which(
    "schemathesis"
)


def sweep(base: str, headers: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert CLI is not None, "schemathesis is a test dependency"
    args = [
        CLI,
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
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


@pytest.mark.parametrize("with_key", [True, False], ids=["admin-key", "no-key"])
def test_openapi__no_generated_input_causes_a_server_error(tmp_path, with_key):
    env = {"RATECARD_ADMIN_API_KEY": KEY, "RATECARD_WEBHOOK_ALLOW_LOOPBACK": "false"}
    with serve(tmp_path, env, args=("--demo",)) as (base, _log):
        result = sweep(base, [f"Authorization: Bearer {KEY}"] if with_key else [], tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
