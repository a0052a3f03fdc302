"""`ratecard serve` as a user starts it: a real uvicorn process on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.netutil import free_port

pytestmark = pytest.mark.slow


@contextmanager
def serve(
    cwd: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[tuple[str, Path]]:
    """Run `ratecard serve`; yields its base URL and the file its stdout and stderr go to.

    Output goes to a file, not a pipe: nobody reads a pipe while the test runs, and a server that
    logs more than the pipe buffer would block on its next log line.
    """
    port = free_port()
    full_env = {
        **os.environ,
        "RATECARD_PORT": str(port),
        "RATECARD_RUN_WATCHER": "false",
        **(env or {}),
    }
    log_path = cwd / f"serve-{port}.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", *args],
        cwd=cwd,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {log_path.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("serve did not come up")
        yield base, log_path
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log_file.close()


def _first_start_key(stderr: str) -> str:
    return next(line.strip() for line in stderr.splitlines() if line.strip().startswith("rc_"))


def test_serve__zero_config_sqlite_prints_admin_key_once(tmp_path):
    with serve(tmp_path) as (base, log):
        r = httpx.get(f"{base}/readyz")
        assert r.json()["checks"] == {"database": "ok", "tokenizers": "ok"}
    key = _first_start_key(log.read_text())
    assert (tmp_path / "ratecard.db").exists()
    with serve(tmp_path) as (base, log):
        r = httpx.post(
            f"{base}/v1/estimates/training",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "gpt-3.5-turbo", "tokens": 100000, "n_epochs": 3, "as_of": "2023-09-01"},
        )
        assert r.status_code == 201 and r.json()["cost_usd"] == "2.40"
    assert "rc_" not in log.read_text()  # shown on the very first start only


def test_serve__admin_key_from_environment_is_not_printed(tmp_path):
    secret = "rc_" + "3f9a0c5e7b1d2468ace0bd1357f9e2c4" + "8a6b0d2f4e1c3a5978f6e4d2c0b1a397"
    with serve(tmp_path, {"RATECARD_ADMIN_API_KEY": secret}) as (base, log):
        assert (
            httpx.get(f"{base}/v1/keys", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 200
        )
    assert secret not in log.read_text()


def test_serve__weak_admin_key_from_environment_is_refused_at_start(tmp_path):
    weak = "rc_operator_supplied_key_1234567890"
    r = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={**os.environ, "RATECARD_ADMIN_API_KEY": weak},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "RATECARD_ADMIN_API_KEY" in r.stderr and "256 bits" in r.stderr
    assert weak not in r.stderr + r.stdout
    assert not (tmp_path / "ratecard.db").exists()


def _demo_key(output: str) -> str:
    line = next(x for x in output.splitlines() if "export RATECARD_KEY=" in x)
    return line.split("RATECARD_KEY=", 1)[1].split()[0]


def test_serve__demo_prints_the_readme_walkthrough_and_removes_its_temporary_folder(tmp_path):
    from service.jobs.demo import walkthrough

    temp = tmp_path / "tmp"
    temp.mkdir()
    with serve(tmp_path, {"TMPDIR": str(temp)}, ("--demo",)) as (base, log):
        time.sleep(0.5)
        printed = log.read_text()
        assert [p.name[:14] for p in temp.iterdir()] == ["ratecard-demo-"]
        key = _demo_key(printed)
        assert httpx.get(f"{base}/v1/keys", headers={"Authorization": f"Bearer {key}"}).is_success
    indented = "\n".join("  " + x if x else "" for x in walkthrough().splitlines())
    assert indented in printed  # estimate, launch, jobs and report steps, as in the README
    assert f"API={base}" in printed and "FILE=file-" in printed
    assert list(temp.iterdir()) == []


def test_serve__demo_folder_of_a_killed_demo_is_removed_at_the_next_start(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "RATECARD_PORT": str(free_port()), "TMPDIR": str(temp)}
    with (tmp_path / "killed.log").open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--demo"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        deadline = time.monotonic() + 30
        while not list(temp.glob("ratecard-demo-*/ratecard-demo.db")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.kill()  # kill -9: no cleanup runs
        proc.wait(timeout=10)
    (left,) = list(temp.glob("ratecard-demo-*"))
    not_ours = temp / "ratecard-demo-not-ours"
    not_ours.mkdir()  # no marker: left alone
    with serve(tmp_path, {"TMPDIR": str(temp)}, ("--demo",)):
        assert not left.exists()
        assert not_ours.exists()
    assert [p.name for p in temp.iterdir()] == ["ratecard-demo-not-ours"]


def test_serve__demo_dir_keeps_the_database_and_shows_the_same_key_on_restart(tmp_path):
    folder = tmp_path / "my-demo"
    with serve(tmp_path, args=("--demo", "--demo-dir", str(folder))) as (base, log):
        time.sleep(0.5)
        key = _demo_key(log.read_text())
        auth = {"Authorization": f"Bearer {key}"}
        r = httpx.post(f"{base}/v1/keys", headers=auth, json={"name": "kept", "scopes": ["read"]})
        assert r.status_code == 201
    assert (folder / "admin-key").stat().st_mode & 0o777 == 0o600
    with serve(tmp_path, args=("--demo", "--demo-dir", str(folder))) as (base, log):
        time.sleep(0.5)
        assert _demo_key(log.read_text()) == key
        names = [k["name"] for k in httpx.get(f"{base}/v1/keys", headers=auth).json()]
        assert names == ["admin", "kept"]
    assert (folder / "ratecard-demo.db").exists()
