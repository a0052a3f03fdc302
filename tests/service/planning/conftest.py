"""Planning tests: the app wired to the fake OpenAI on loopback, both clocks pinned to one moment.

The service's planning and usage routes read the same settable clock, so traffic is ingested
through the real usage API "now" and the countdown is computed as of that same now.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.auth.service import create_key
from service.db import session_scope
from service.planning.router import planning_now
from service.settings import Settings
from service.usage.router import current_time
from tests.fakes.fake_openai import FakeOpenAIState, ManualClock
from tests.service.conftest import ADMIN_SECRET, client_for
from tests.service.jobs.conftest import (  # noqa: F401  (fixtures)
    OPENAI_KEY,
    STEP_SECONDS,
    TEN_EXAMPLES,
    FakeOpenAIServer,
    clock,
    fake,
    fake_openai_server,
    jobs_settings,
)

# 38 days before the gpt-4o/4.1 fine-tunes stop (2027-01-14); fine-tuning closes in 30 days.
NOW = datetime(2026, 12, 7, 12, 0, 5, tzinfo=UTC)
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class PlanningEnv:
    app: FastAPI
    settings: Settings
    fake: FakeOpenAIState
    clock: ManualClock
    fake_base_url: str
    admin: httpx.Client
    reader: httpx.Client
    now: datetime = NOW

    def at(self, moment: datetime) -> None:
        self.now = moment

    def usage(
        self,
        model: str,
        prompt: int,
        completion: int,
        *,
        ago: float = 0,
        n: int = 1,
        org: str | None = None,
    ) -> None:
        moment = self.now - timedelta(seconds=ago)
        events = [
            {
                "model": model,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "timestamp": moment.isoformat(),
            }
            for _ in range(n)
        ]
        body: dict[str, Any] = {"events": events}
        if org:
            body["org"] = org
        r = self.admin.post("/v1/usage", json=body)
        assert r.status_code == 200, r.text

    def fine_tune(self, model: str = "gpt-4o-mini", suffix: str = "support") -> dict[str, Any]:
        """A job run to success on the fake OpenAI; returns OpenAI's job object."""
        file_id = self.fake.add_file("train.jsonl", TEN_EXAMPLES)
        headers = {"Authorization": f"Bearer {OPENAI_KEY}"}
        with httpx.Client(base_url=self.fake_base_url, headers=headers) as http:
            job = http.post(
                "/fine_tuning/jobs",
                json={"training_file": file_id, "model": model, "suffix": suffix},
            ).json()
            self.clock.advance(STEP_SECONDS * 10)
            done = http.get(f"/fine_tuning/jobs/{job['id']}").json()
        assert done["status"] == "succeeded", done
        return dict(done)


@pytest.fixture
def env(
    database_url: str,
    tmp_path: Path,
    fake: FakeOpenAIState,  # noqa: F811
    clock: ManualClock,  # noqa: F811
    fake_openai_server: FakeOpenAIServer,  # noqa: F811
) -> Iterator[PlanningEnv]:
    settings = jobs_settings(database_url, fake_openai_server.base_url, tmp_path)
    app = create_app(settings, run_background=False)
    with session_scope(app.state.engine) as session:
        create_key(session, name="admin", scopes=["admin"], secret=ADMIN_SECRET)
        _, read_secret = create_key(session, name="finance", scopes=["read"])
    admin = client_for(app, ADMIN_SECRET)
    reader = client_for(app, read_secret)
    with admin, reader:
        e = PlanningEnv(app, settings, fake, clock, fake_openai_server.base_url, admin, reader)
        app.dependency_overrides[current_time] = lambda: e.now
        app.dependency_overrides[planning_now] = lambda: e.now
        yield e
