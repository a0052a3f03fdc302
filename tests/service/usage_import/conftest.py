"""Usage import tests: the app on a test database, importing from the fake OpenAI over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from service.db import session_scope
from service.usage import history
from service.usage_import.models import ImportedUsage
from service.usage_import.service import run_import
from tests.fakes.fake_openai import ManualClock
from tests.service.conftest import ADMIN_SECRET, build_app, client_for
from tests.service.openai.conftest import FakeOpenAIServer, fake_openai_server
from tests.service.usage_import.support import PageFaults

__all__ = ["fake_openai_server"]

ADMIN_KEY = "sk-admin-test-0123456789"


@pytest.fixture
def fake(fake_openai_server: FakeOpenAIServer) -> Iterator[PageFaults]:
    state = PageFaults(clock=ManualClock(start=1_700_000_000))
    previous = fake_openai_server.app.state.fake
    fake_openai_server.app.state.fake = state
    try:
        yield state
    finally:
        state.release_delays()
        fake_openai_server.app.state.fake = previous


def settings_for(server: FakeOpenAIServer, **overrides: Any) -> dict[str, Any]:
    return {
        "openai_base_url": server.base_url,
        "openai_admin_key": ADMIN_KEY,
        "openai_max_retries": 2,
        "openai_backoff_seconds": 0.001,
        "import_backfill_days": 2,
        **overrides,
    }


@dataclass
class Importer:
    app: FastAPI
    admin: httpx.Client

    def run(self, now: datetime) -> dict[str, Any]:
        return run_import(
            engine=self.app.state.engine,
            settings=self.app.state.settings,
            trigger="manual",
            now=now,
        )

    def history(self, family: str, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
        with session_scope(self.app.state.engine) as session:
            return history.history(
                session,
                org="default",
                family=family,
                start=start,
                end=end,
                now=now,
                settings=self.app.state.settings,
            )

    def stored_rows(self) -> int:
        with session_scope(self.app.state.engine) as session:
            return int(
                session.execute(select(func.count()).select_from(ImportedUsage)).scalar_one()
            )


@pytest.fixture
def importer(
    database_url: str, tmp_path, fake_openai_server: FakeOpenAIServer, fake: PageFaults
) -> Iterator[Importer]:
    app = build_app(database_url, tmp_path, **settings_for(fake_openai_server))
    with client_for(app, ADMIN_SECRET) as admin:
        yield Importer(app, admin)
    app.state.engine.dispose()
