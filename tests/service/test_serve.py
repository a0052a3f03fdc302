"""`ratecard serve` as a user starts it: a real uvicorn process on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(cwd: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    full_env = {**os.environ, "RATECARD_PORT": str(port), "RATECARD_RUN_WATCHER": "false", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("serve did not come up")
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _first_start_key(stderr: str) -> str:
    return next(line.strip() for line in stderr.splitlines() if line.strip().startswith("rc_"))


def test_serve__zero_config_sqlite_prints_admin_key_once(tmp_path):
    with serve(tmp_path) as (base, proc):
        r = httpx.get(f"{base}/readyz")
        assert r.json()["checks"] == {"database": "ok", "tokenizers": "ok"}
    stderr = proc.stderr.read() if proc.stderr else ""
    key = _first_start_key(stderr)
    assert (tmp_path / "ratecard.db").exists()
    with serve(tmp_path) as (base, proc):
        r = httpx.post(f"{base}/v1/estimates/training", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "gpt-3.5-turbo", "tokens": 100000, "n_epochs": 3, "as_of": "2023-09-01"})
        assert r.status_code == 201 and r.json()["cost_usd"] == "2.40"
    assert "rc_" not in (proc.stderr.read() if proc.stderr else "")  # shown on the very first start only


def test_serve__admin_key_from_environment_is_not_printed(tmp_path):
    secret = "rc_operator_supplied_key_1234567890"
    with serve(tmp_path, {"RATECARD_ADMIN_API_KEY": secret}) as (base, proc):
        assert httpx.get(f"{base}/v1/keys", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert secret not in (proc.stderr.read() if proc.stderr else "")
