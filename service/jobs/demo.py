"""``ratecard serve --demo``: the service against the fake OpenAI API, no credentials needed.

The fake runs in a background thread on a free loopback port with short steps, so a job goes
``validating_files -> queued -> running -> succeeded`` in about 15 seconds. The bundled sample
training file is uploaded to it up front. Nothing secret is seeded: the fake's API key is a
fixed, public placeholder.

State: by default a temporary folder that the demo removes on exit; a folder left behind by a
demo that was killed (a marker file naming a pid that is gone) is removed at the next start.
With ``--demo-dir`` the database and the admin key (mode 0600) stay in a folder of the user's,
reused on restart. The fake OpenAI API itself keeps nothing: it starts empty every time.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from service.settings import Settings

DEMO_OPENAI_KEY = "sk-demo-not-a-secret"
DEMO_STEP_SECONDS = 4.0
DEMO_WATCH_INTERVAL_SECONDS = 2.0
TEMP_PREFIX = "ratecard-demo-"
MARKER = ".ratecard-demo-pid"  # in temporary folders only: ours to remove once its pid is gone
KEY_FILE = "admin-key"

log = logging.getLogger(__name__)


def walkthrough() -> str:
    """The README's walkthrough, word for word (a test holds the two together)."""
    return resources.files("service").joinpath("jobs", "demo_walkthrough.sh").read_text("utf-8")


def demo_training_file() -> bytes:
    """The bundled sample (5 examples) twice over: OpenAI refuses fewer than 10 examples."""
    sample = resources.files("pricing").joinpath("data", "sample_chat.jsonl").read_bytes()
    return sample.rstrip(b"\n") + b"\n" + sample


@dataclass
class DemoOpenAI:
    base_url: str
    file_id: str
    data_dir: Path
    owns_data_dir: bool  # a temporary folder of its own, removed on exit
    _server: Any
    _thread: threading.Thread
    _state: Any

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "openai_base_url": self.base_url,
            "openai_api_key": DEMO_OPENAI_KEY,
            "openai_organization": None,
            "openai_project": None,
            "database_url": f"sqlite:///{self.data_dir / 'ratecard-demo.db'}",
            "run_watcher": True,
            "watch_interval_seconds": DEMO_WATCH_INTERVAL_SECONDS,
            "watcher_lease_seconds": 10 * DEMO_WATCH_INTERVAL_SECONDS,
        }

    def admin_key(self, new_secret: str | None) -> str | None:
        """The key to show: a new one (kept in a --demo-dir folder, mode 0600, for the next
        start), else the one a --demo-dir folder kept from its first start."""
        key_file = self.data_dir / KEY_FILE
        if self.owns_data_dir:
            return new_secret
        if new_secret is not None:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # also when an older file was there
            with os.fdopen(fd, "w") as f:
                f.write(new_secret + "\n")
            return new_secret
        try:
            return key_file.read_text().strip() or None
        except OSError:
            return None

    def instructions(self, settings: Settings, admin_key: str | None) -> str:
        service = f"http://{settings.host}:{settings.port}"
        database = self.data_dir / "ratecard-demo.db"
        where = (
            f"Database (a temporary file): {database} (removed on exit)"
            if self.owns_data_dir
            else f"Database (kept for the next start): {database}; admin key in "
            f"{self.data_dir / KEY_FILE}"
        )
        key = admin_key or "$RATECARD_ADMIN_API_KEY"
        lines = [
            "",
            f"ratecard demo: OpenAI is a local fake at {self.base_url}",
            "(no credentials; nothing leaves this machine).",
            where,
            "The bundled sample pricing/data/sample_chat.jsonl, repeated to OpenAI's minimum of",
            f"10 examples, is uploaded to the fake as {self.file_id}. From the source folder, try:",
            "",
            f"export RATECARD_KEY={key}  FILE={self.file_id}  API={service}",
            *walkthrough().splitlines(),
            "",
            "GET /v1/jobs/<id> shows the actual cost beside the estimate once a job has finished.",
            "Upload your own JSONL file to the fake with:",
            f"curl -s -H 'Authorization: Bearer {DEMO_OPENAI_KEY}' -F purpose=fine-tune \\",
            f"     -F file=@my.jsonl {self.base_url}/files",
            "",
        ]
        return "\n".join("  " + line if line else "" for line in lines) + "\n"

    def stop(self) -> None:
        self._state.release_delays()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self.owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_demo_dirs(temp_root: Path | None = None) -> list[Path]:
    """Temporary demo folders whose demo was killed (kill -9, a crash): ours by name and marker,
    and the pid in the marker is gone. Anything else is left alone."""
    removed = []
    for folder in Path(temp_root or tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            pid = int((folder / MARKER).read_text().strip())
        except (OSError, ValueError):
            continue  # not clearly ours
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed the folder of a demo that did not exit: %s", folder)
            removed.append(folder)
    return removed


def prepare_data_dir(data_dir: Path | None) -> tuple[Path, bool]:
    """The demo's folder and whether the demo owns it (a temporary one, removed on exit)."""
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        return data_dir.resolve(), False
    remove_stale_demo_dirs()
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    (folder / MARKER).write_text(f"{os.getpid()}\n")
    return folder, True


def start_demo_openai(*, host: str = "127.0.0.1", data_dir: Path | None = None) -> DemoOpenAI:
    """Serve the fake OpenAI API on a free loopback port in a daemon thread."""
    import uvicorn

    from service.fakes.openai import FakeOpenAIState, create_fake_openai_app

    folder, owned = prepare_data_dir(data_dir)
    state = FakeOpenAIState(step_seconds=DEMO_STEP_SECONDS, api_key=DEMO_OPENAI_KEY)
    file_id = state.add_file("sample_chat.jsonl", demo_training_file())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_fake_openai_app(state), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="demo-fake-openai", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            if owned:
                shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError("the demo's fake OpenAI API did not start")
        time.sleep(0.01)
    return DemoOpenAI(f"http://{host}:{port}/v1", file_id, folder, owned, server, thread, state)
