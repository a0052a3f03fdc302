"""Importing OpenAI's Costs API: exact, idempotent, and whole or not at all."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import select

from service.billing.importer import default_window
from service.billing.models import CostImport, CostLine
from service.db import session_scope
from tests.fakes.fake_openai import FakeOpenAIState
from tests.service.billing.conftest import SQLITE_ONLY, BillingEnv, billing_app, unix
from tests.service.conftest import ADMIN_SECRET, client_for

MARCH_1 = date(2025, 3, 1)
COSTS = "GET /v1/organization/costs"


def _lines(env: BillingEnv) -> list[CostLine]:
    with session_scope(env.app.state.engine) as session:
        return list(session.exec(select(CostLine).order_by(CostLine.day, CostLine.line_item)))


def _seed_days(fake: FakeOpenAIState, first: date, days: int) -> Decimal:
    total = Decimal(0)
    for n in range(days):
        amount = Decimal("1.000001") + Decimal(n) / 1000
        fake.add_cost(
            at=unix(first + timedelta(days=n), 60),
            amount=amount,
            line_item="gpt-4o-mini-2024-07-18, input",
            project_id="proj_a",
            quantity=1000 + n,
            quantity_unit="tokens",
        )
        total += amount
    return total


def _import(env: BillingEnv, start: date, end: date, status: int = 201) -> dict:
    response = env.admin.post(
        "/v1/billing/imports", json={"start": start.isoformat(), "end": end.isoformat()}
    )
    assert response.status_code == status, response.text
    return response.json()


def test_import__keeps_amounts_exact_currency_and_line_items_as_sent(env: BillingEnv) -> None:
    env.fake.add_cost(
        at=unix(MARCH_1, 10),
        amount=Decimal("0.0123456789"),
        line_item="ft-gpt-4o-mini-2024-07-18 training",
        project_id="proj_a",
        quantity=4115,
        quantity_unit="tokens",
    )
    env.fake.add_cost(at=unix(MARCH_1, 20), amount=Decimal("2.5"), line_item="web search calls")
    env.fake.add_cost(
        at=unix(MARCH_1, 30), amount=Decimal("0.75"), line_item="gpt-4o-2024-08-06, batch input"
    )
    run = _import(env, MARCH_1, MARCH_1 + timedelta(days=1))
    assert (run["status"], run["days"], run["lines"]) == ("succeeded", 1, 3)
    lines = {line.line_item: line for line in _lines(env)}
    training = lines["ft-gpt-4o-mini-2024-07-18 training"]
    assert training.amount == Decimal("0.0123456789")  # not rounded to 6 places, never a float
    assert (training.currency, training.project_id, training.quantity) == ("usd", "proj_a", 4115)
    assert (training.model, training.kind, training.component) == (
        "gpt-4o-mini-2024-07-18",
        "training",
        "training",
    )
    batch = lines["gpt-4o-2024-08-06, batch input"]
    assert (batch.model, batch.kind, batch.component) == ("gpt-4o-2024-08-06", "batch", "input")
    unmapped = lines["web search calls"]
    assert (unmapped.model, unmapped.kind, unmapped.project_id) == (None, None, "")
    listed = env.reader.get("/v1/billing/imports").json()["items"]
    assert [i["status"] for i in listed] == ["succeeded"]


@SQLITE_ONLY
def test_import__a_day_fetched_again_replaces_its_figures(env: BillingEnv) -> None:
    _seed_days(env.fake, MARCH_1, 3)
    _import(env, MARCH_1, MARCH_1 + timedelta(days=3))
    # OpenAI revises the second day; the next import reads all three days again.
    env.fake.add_cost(
        at=unix(MARCH_1 + timedelta(days=1), 90),
        amount=Decimal("0.5"),
        line_item="gpt-4o-mini-2024-07-18, input",
        project_id="proj_a",
        quantity=10,
        quantity_unit="tokens",
    )
    _import(env, MARCH_1, MARCH_1 + timedelta(days=3))
    lines = _lines(env)
    assert len(lines) == 3
    assert [line.amount for line in lines] == [
        Decimal("1.000001"),
        Decimal("1.501001"),
        Decimal("1.002001"),
    ]
    assert lines[1].quantity == 1011


@SQLITE_ONLY
def test_import__rate_limits_and_5xx_across_pages_lose_and_double_nothing(
    env: BillingEnv,
) -> None:
    first = date(2024, 9, 1)
    total = _seed_days(env.fake, first, 200)  # two pages of the Costs API (180 days a page)
    env.fake.inject_fault("rate_limit", path="/v1/organization/costs", retry_after_ms=1)
    env.fake.inject_fault("delay", path="/v1/organization/costs")  # the rest of page 1
    env.fake.inject_fault("server_error", path="/v1/organization/costs", status=503)  # page 2
    run = _import(env, first, first + timedelta(days=200))
    assert (run["status"], run["days"], run["lines"]) == ("succeeded", 200, 200)
    lines = _lines(env)
    assert len({line.day for line in lines}) == 200
    assert sum((line.amount for line in lines), Decimal(0)) == total
    assert env.fake.request_counts[COSTS] == 4  # 429 and 503 retried once each, two pages


@SQLITE_ONLY
def test_import__a_cut_short_page_writes_nothing_and_keeps_the_last_figures(
    env: BillingEnv,
) -> None:
    first = date(2024, 9, 1)
    total = _seed_days(env.fake, first, 200)
    _import(env, first, first + timedelta(days=200))
    env.fake.add_cost(at=unix(first, 5), amount=Decimal("7"), line_item="gpt-4o, input")
    env.fake.inject_fault("delay", path="/v1/organization/costs")  # page 1 arrives whole
    env.fake.inject_fault("malformed", path="/v1/organization/costs")  # page 2 is cut short
    failed = _import(env, first, first + timedelta(days=200), status=502)
    assert failed["code"] == "costs_import_failed"
    lines = _lines(env)
    assert len(lines) == 200 and sum((x.amount for x in lines), Decimal(0)) == total
    _import(env, first, first + timedelta(days=200))
    lines = _lines(env)
    assert len(lines) == 201
    assert sum((x.amount for x in lines), Decimal(0)) == total + 7
    with session_scope(env.app.state.engine) as session:
        runs = session.exec(select(CostImport.status).order_by(CostImport.id)).all()
    assert runs == ["succeeded", "failed", "succeeded"]


@SQLITE_ONLY
def test_import__a_key_without_permission_is_a_setup_error_not_retried(env: BillingEnv) -> None:
    env.fake.inject_fault(
        "error",
        path="/v1/organization/costs",
        status=403,
        type="invalid_request_error",
        message="You have insufficient permissions for this operation. Missing scopes: "
        "api.usage.read.",
        times=5,
    )
    problem = _import(env, MARCH_1, MARCH_1 + timedelta(days=1), status=502)
    assert problem["code"] == "openai_admin_key_refused"
    assert "permission" in problem["detail"]
    assert "sk-admin" not in problem["detail"].replace("sk-admin-...", "")
    assert env.fake.request_counts[COSTS] == 1


@SQLITE_ONLY
def test_import__only_an_admin_key_may_start_one(env: BillingEnv) -> None:
    response = env.reader.post("/v1/billing/imports", json={})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


@SQLITE_ONLY
def test_import__a_new_installation_backfills_then_rereads_from_the_last_run(
    env: BillingEnv,
) -> None:
    settings = env.app.state.settings
    today = date(2025, 4, 2)
    with session_scope(env.app.state.engine) as session:
        first = default_window(session, today=today, settings=settings)
    assert first == (today - timedelta(days=settings.import_backfill_days), date(2025, 4, 3))
    _import(env, date(2025, 3, 1), date(2025, 3, 20))  # then imports stopped for two weeks
    with session_scope(env.app.state.engine) as session:
        assert default_window(session, today=today, settings=settings) == (
            date(2025, 3, 17),
            date(2025, 4, 3),
        )


@SQLITE_ONLY
def test_import__bad_requests_are_problems(env: BillingEnv) -> None:
    for body in (
        {"start": "yesterday"},
        {"start": "2025-03-02", "end": "2025-03-01"},
        {"start": "2023-01-01", "end": "2025-03-01"},
        {"days": 3},
    ):
        response = env.admin.post("/v1/billing/imports", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


@SQLITE_ONLY
def test_import__without_an_admin_key_it_says_how_to_configure_it(
    database_url: str, fake_costs_server: tuple, tmp_path: Path
) -> None:
    app = billing_app(database_url, fake_costs_server[1], tmp_path, openai_admin_key=None)
    with client_for(app, ADMIN_SECRET) as admin:
        response = admin.post("/v1/billing/imports", json={})
    assert response.status_code == 409
    assert response.json()["code"] == "costs_import_not_configured"
    assert "RATECARD_OPENAI_ADMIN_KEY" in response.json()["detail"]
