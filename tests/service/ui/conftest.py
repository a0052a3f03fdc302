"""The dashboard on a test database with a few jobs, and keys of each kind."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from service.auth.service import create_key
from service.billing.models import CostLine
from service.db import session_scope
from service.jobs.models import Job
from service.usage.models import UsageBucket
from service.usage_import.models import ImportedUsage
from tests.service.conftest import ADMIN_SECRET, build_app

THIS_YEAR = datetime.now(UTC).year


def seed_jobs(app: FastAPI) -> None:
    """Team a: one finished job (actual), one running (estimated); team b: one finished."""
    rows = [
        ("job_ui_a1", "a", "succeeded", "1.50", "1.25", 1, "ft:gpt-4o-mini-2024-07-18:acme::a1"),
        ("job_ui_a2", "a", "running", "0.40", None, 2, None),
        ("job_ui_b1", "b", "succeeded", "2.00", "2.10", 2, "ft:gpt-4o-mini-2024-07-18:acme::b1"),
    ]
    with session_scope(app.state.engine) as session:
        for job_id, team, status, estimate, actual, month, model in rows:
            session.add(
                Job(
                    id=job_id,
                    openai_job_id=f"ftjob-{job_id}",
                    source="launch",
                    status=status,
                    team=team,
                    launcher="admin",
                    requested_model="gpt-4o-mini",
                    model="gpt-4o-mini-2024-07-18",
                    estimated_cost_usd=Decimal(estimate),
                    actual_cost_usd=None if actual is None else Decimal(actual),
                    trained_tokens=None if actual is None else 1000,
                    fine_tuned_model=model,
                    created_at=datetime(THIS_YEAR, month, 3, 12, tzinfo=UTC),
                )
            )


def new_key(app: FastAPI, *scopes: str) -> str:
    with session_scope(app.state.engine) as session:
        _, secret = create_key(session, name="ui-" + "-".join(scopes), scopes=scopes)
    return secret


@dataclass
class Dashboard:
    app: FastAPI

    def browser(self) -> TestClient:
        """A client without any Authorization header: only the cookies a browser would keep."""
        return TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)

    def signed_in(self, secret: str) -> TestClient:
        client = self.browser()
        response = sign_in(client, secret)
        assert response.status_code == 303, response.text
        return client


def form_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return match.group(1)


def sign_in(client: TestClient, secret: str, *, next_url: str = "/ui/spend") -> httpx.Response:
    page = client.get("/ui/sign-in", params={"next": next_url})
    token = form_value(page.text, "form_token")
    return client.post("/ui/sign-in", data={"key": secret, "form_token": token, "next": next_url})


@pytest.fixture
def dashboard(sqlite_url: str, tmp_path) -> Iterator[Dashboard]:
    # Session and CSRF logic has nothing database-specific: SQLite only keeps these fast.
    app = build_app(sqlite_url, tmp_path)
    seed_jobs(app)
    yield Dashboard(app)


def cost_line(day: date, line_item: str, amount: str, **mapping: str) -> CostLine:
    """A line of OpenAI's Costs API as the costs import stores it."""
    return CostLine(
        day=day, project_id="", line_item=line_item, currency="usd", amount=Decimal(amount),
        model="gpt-4o-mini-2024-07-18", import_id=1, **mapping,
    )  # fmt: skip


def seed_inference(app: FastAPI, *, unpriced: bool = True) -> None:
    """February: clients reported 400k in / 100k out of gpt-4o-mini, OpenAI's Usage API saw
    1M in / 500k out of the same hour (counted once: 0.15 + 0.30), billed 0.45; on the 6th a
    model the catalogue does not know (no price), unless ``unpriced`` is false."""
    at = int(datetime(THIS_YEAR, 2, 5, 10, tzinfo=UTC).timestamp())
    mini = "gpt-4o-mini-2024-07-18"
    with session_scope(app.state.engine) as session:
        session.add(
            UsageBucket(
                org="default", family="gpt-4o-mini", bucket=at + 60, model=mini, tokens=500_000,
                requests=3, prompt_tokens=400_000, completion_tokens=100_000,
            )
        )  # fmt: skip
        imports = [(mini, at, 1_000_000, 500_000)]
        if unpriced:
            imports.append(("gpt-9-preview", at + 86_400, 1_000, 1_000))
        for model, start, prompt, completion in imports:
            session.add(
                ImportedUsage(
                    org="default", model=model, start=start, width=3600, project_id="",
                    batch=False, service_tier="default", family="gpt-4o-mini", model_key=model,
                    input_tokens=prompt, input_cached_tokens=0, output_tokens=completion,
                    requests=10, imported_at=datetime(THIS_YEAR, 2, 7, tzinfo=UTC),
                )
            )  # fmt: skip
        for component, amount in (("input", "0.15"), ("output", "0.30")):
            session.add(
                cost_line(
                    date(THIS_YEAR, 2, 5), f"{mini}, {component}", amount,
                    kind="inference", component=component,
                )
            )  # fmt: skip


__all__ = [
    "ADMIN_SECRET",
    "Dashboard",
    "cost_line",
    "form_value",
    "new_key",
    "seed_inference",
    "sign_in",
]
