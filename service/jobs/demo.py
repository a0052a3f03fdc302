"""``ratecard serve --demo``: the service against the fake OpenAI API, no credentials needed.

The fake runs in a background thread on a free loopback port with short steps, so a job goes
``validating_files -> queued -> running -> succeeded`` in about 15 seconds. The bundled sample
training file is uploaded to it up front. Nothing secret is seeded: the fake's API key is a
fixed, public placeholder and the database is a throwaway SQLite file.
"""

from __future__ import annotations

import json
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


def demo_training_file() -> bytes:
    """The bundled sample (5 examples) twice over: OpenAI refuses fewer than 10 examples."""
    sample = resources.files("pricing").joinpath("data", "sample_chat.jsonl").read_bytes()
    return sample.rstrip(b"\n") + b"\n" + sample


@dataclass
class DemoOpenAI:
    base_url: str
    file_id: str
    data_dir: Path
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

    def instructions(self, settings: Settings, admin_key: str | None) -> str:
        service = f"http://{settings.host}:{settings.port}"
        body = json.dumps(
            {
                "training_file": self.file_id,
                "model": "gpt-4o-mini",
                "team": "demo",
                "launched_by": "you",
            }
        )
        auth = '-H "Authorization: Bearer $RATECARD_KEY"'
        post = f"curl -s -X POST {auth} -H 'Content-Type: application/json'"
        lines = [
            "",
            f"ratecard demo: OpenAI is a local fake at {self.base_url}",
            "(no credentials; nothing leaves this machine).",
            f"Database (a temporary file): {self.data_dir / 'ratecard-demo.db'}",
            "The bundled sample pricing/data/sample_chat.jsonl, repeated to OpenAI's minimum of",
            f"10 examples, is uploaded to the fake as {self.file_id}. Try:",
            "",
            f"  export RATECARD_KEY={admin_key or '$RATECARD_ADMIN_API_KEY'}",
            f"  {post} {service}/v1/jobs/preview -d '{body}'",
            f"  {post} -H 'Idempotency-Key: demo-1' {service}/v1/jobs -d '{body}'",
            f"  curl -s {auth} {service}/v1/jobs",
            "",
            "The job finishes in about 15 seconds; GET /v1/jobs/<id> then shows the actual cost",
            "beside the estimate. Upload your own JSONL file to the fake with:",
            f"  curl -s -H 'Authorization: Bearer {DEMO_OPENAI_KEY}' -F purpose=fine-tune \\",
            f"       -F file=@my.jsonl {self.base_url}/files",
            "",
        ]
        return "\n".join("  " + line if line else "" for line in lines) + "\n"

    def stop(self) -> None:
        self._state.release_delays()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_demo_openai(*, host: str = "127.0.0.1") -> DemoOpenAI:
    """Serve the fake OpenAI API on a free loopback port in a daemon thread."""
    import uvicorn

    from service.fakes.openai import FakeOpenAIState, create_fake_openai_app

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
            raise RuntimeError("the demo's fake OpenAI API did not start")
        time.sleep(0.01)
    data_dir = Path(tempfile.mkdtemp(prefix="ratecard-demo-"))
    return DemoOpenAI(f"http://{host}:{port}/v1", file_id, data_dir, server, thread, state)
