"""Spend by kind: training from jobs, inference from usage counted once, OpenAI's bill beside."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.billing.models import CostLine
from service.db import session_scope
from service.jobs.models import Job
from service.usage.models import UsageBucket
from service.usage_import.models import ImportedUsage
from tests.service.conftest import ADMIN_SECRET, build_app, client_for

MINI = "gpt-4o-mini-2024-07-18"
FT = f"ft:{MINI}:acme::a1"
UNKNOWN_MODEL = "gpt-9-preview"
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def ts(day: date, hour: int = 10) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


def job(job_id: str, team: str | None, status: str, estimate: str, actual: str | None) -> Job:
    return Job(
        id=job_id,
        openai_job_id=f"ftjob-{job_id}",
        source="launch",
        status=status,
        team=team,
        launcher="admin",
        requested_model="gpt-4o-mini",
        model=MINI,
        estimated_cost_usd=Decimal(estimate),
        actual_cost_usd=None if actual is None else Decimal(actual),
        trained_tokens=None if actual is None else 400_000,
        created_at=datetime(2025, 3, 3, 12, tzinfo=UTC),
        finished_at=None if actual is None else datetime(2025, 3, 10, 12, tzinfo=UTC),
    )


def reported(day: date, model: str, prompt: int, completion: int) -> UsageBucket:
    """What clients reported through POST /v1/usage, as the usage counters keep it."""
    return UsageBucket(
        org="default", family="gpt-4o-mini", bucket=ts(day) + 60, model=model,
        tokens=prompt + completion, requests=3, prompt_tokens=prompt, completion_tokens=completion,
    )  # fmt: skip


def imported(
    day: date, model: str, input_tokens: int, output_tokens: int, *, batch: bool = False
) -> ImportedUsage:
    """An hour bucket of OpenAI's Usage API, as the usage import stores it."""
    return ImportedUsage(
        org="default", model=model, start=ts(day), width=3600, project_id="", batch=batch,
        service_tier="default", family="gpt-4o-mini", model_key=model,
        input_tokens=input_tokens, input_cached_tokens=0, output_tokens=output_tokens,
        requests=10, imported_at=datetime(2025, 4, 2, tzinfo=UTC),
    )  # fmt: skip


def cost(day: date, line_item: str, amount: str, **mapping: Any) -> CostLine:
    """A line of OpenAI's Costs API, mapped as the costs import maps it."""
    return CostLine(
        day=day, project_id="proj_1", line_item=line_item, currency="usd",
        amount=Decimal(amount), import_id=1, **mapping,
    )  # fmt: skip


def seed_march(app: FastAPI) -> None:
    """March 2025.

    Training: team a's finished job (actual 1.25) and running job (estimate 0.40), a finished job
    without a team (actual 2.10); OpenAI billed 1.24 of training on the 10th.
    Inference on the 5th: clients reported 400k in / 100k out of gpt-4o-mini, OpenAI's Usage API
    saw 1M in / 500k out of the same traffic: counted once, 0.15 + 0.30; and 2M in of Batch
    traffic, 0.15 at the Batch price. On the 6th: clients reported 1M in / 1M out of a fine-tuned
    gpt-4o-mini, 0.30 + 1.20. OpenAI billed the same.
    """
    with session_scope(app.state.engine) as session:
        session.add(job("job_a1", "a", "succeeded", "1.50", "1.25"))
        session.add(job("job_a2", "a", "running", "0.40", None))
        session.add(job("job_n1", None, "succeeded", "2.00", "2.10"))
        session.add(reported(date(2025, 3, 5), MINI, 400_000, 100_000))
        session.add(imported(date(2025, 3, 5), MINI, 1_000_000, 500_000))
        session.add(imported(date(2025, 3, 5), MINI, 2_000_000, 0, batch=True))
        session.add(reported(date(2025, 3, 6), FT, 1_000_000, 1_000_000))
        standard = {"model": MINI, "kind": "inference", "fine_tuned": False}
        tuned = {"model": MINI, "kind": "inference", "fine_tuned": True}
        for line in (
            cost(date(2025, 3, 5), f"{MINI}, input", "0.15", component="input", **standard),
            cost(date(2025, 3, 5), f"{MINI}, output", "0.30", component="output", **standard),
            cost(date(2025, 3, 6), f"ft-{MINI}, input", "0.30", component="input", **tuned),
            cost(date(2025, 3, 6), f"ft-{MINI}, output", "1.20", component="output", **tuned),
            cost(
                date(2025, 3, 10), f"ft-{MINI} training", "1.24",
                model=MINI, kind="training", component="training",
            ),
            # Batch is inference too, billed on a line of its own; audio maps to no kind at all.
            cost(
                date(2025, 3, 5), f"{MINI}, batch input", "0.15",
                model=MINI, kind="batch", component="input",
            ),
            cost(date(2025, 3, 5), f"{MINI}, audio", "0.07"),
        ):  # fmt: skip
            session.add(line)


@pytest.fixture
def reports(database_url: str, tmp_path) -> Iterator[tuple[FastAPI, httpx.Client]]:
    app = build_app(database_url, tmp_path)
    seed_march(app)
    from service.auth.service import create_key

    with session_scope(app.state.engine) as session:
        _, secret = create_key(session, name="finance", scopes=["read"])
    with client_for(app, secret) as reader:
        yield app, reader


def figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["group"], row["kind"], row["estimated_usd"], row["actual_usd"], row["billed_usd"])


def test_spend__by_kind_puts_estimated_actual_and_billed_side_by_side(reports) -> None:
    _, reader = reports

    response = reader.get("/v1/reports/spend", params={**MARCH, "group_by": "kind"})

    assert response.status_code == 200, response.text
    report = response.json()
    assert [figures(r) for r in report["rows"]] == [
        ("training", "training", "0.40", "3.35", "1.24"),
        # Reported and imported usage of the 5th counted once (the larger), not added.
        ("inference", "inference", None, "2.10", "2.10"),
    ]
    training = report["rows"][0]
    assert (training["jobs"], training["jobs_actual"], training["jobs_estimated"]) == (3, 2, 1)
    assert training["basis"] == "mixed" and report["rows"][1]["jobs"] is None
    assert report["totals"] == {"estimated_usd": "0.40", "actual_usd": "5.45", "billed_usd": "3.34"}
    assert (report["from"], report["to"], report["kind"], report["currency"]) == (
        "2025-03-01", "2025-03-31", None, "USD",
    )  # fmt: skip


def test_spend__inference_has_no_team_and_training_bills_have_no_team(reports) -> None:
    _, reader = reports

    report = reader.get("/v1/reports/spend", params={**MARCH, "group_by": "team"}).json()

    assert [figures(r) for r in report["rows"]] == [
        ("(no team)", "training", "0.00", "2.10", None),
        ("(no team)", "inference", None, "2.10", "2.10"),
        ("a", "training", "0.40", "1.25", None),
    ]
    # Every line of the kinds shown is in the total, attributable to a row or not.
    assert report["totals"]["billed_usd"] == "3.34"


def test_spend__by_model_keeps_fine_tuned_inference_apart_as_openai_bills_it(reports) -> None:
    _, reader = reports

    report = reader.get("/v1/reports/spend", params={**MARCH, "group_by": "model"}).json()

    assert [figures(r) for r in report["rows"]] == [
        (f"ft-{MINI}", "inference", None, "1.50", "1.50"),
        (MINI, "training", "0.40", "3.35", "1.24"),
        (MINI, "inference", None, "0.60", "0.60"),
    ]


def test_spend__a_kind_filter_keeps_one_kind_by_month(reports) -> None:
    _, reader = reports

    params = {**MARCH, "group_by": "month", "kind": "inference"}
    report = reader.get("/v1/reports/spend", params=params).json()

    assert [figures(r) for r in report["rows"]] == [("2025-03", "inference", None, "2.10", "2.10")]
    assert report["kind"] == "inference"
    assert report["totals"] == {"estimated_usd": None, "actual_usd": "2.10", "billed_usd": "2.10"}


def test_spend__traffic_without_a_price_is_unknown_never_zero(reports) -> None:
    app, reader = reports
    with session_scope(app.state.engine) as session:
        session.add(imported(date(2025, 4, 2), UNKNOWN_MODEL, 5_000, 1_000))
        session.add(reported(date(2025, 4, 2), MINI, 1_000_000, 0))

    span = {"from": "2025-03-01", "to": "2025-04-30", "group_by": "month", "kind": "inference"}
    report = reader.get("/v1/reports/spend", params=span).json()

    march, april = report["rows"]
    assert figures(march) == ("2025-03", "inference", None, "2.10", "2.10")
    assert figures(april) == ("2025-04", "inference", None, None, None)
    assert april["unpriced"] == [UNKNOWN_MODEL]
    assert report["totals"]["actual_usd"] is None
    by_model = reader.get("/v1/reports/spend", params={**span, "group_by": "model"}).json()
    assert {r["group"]: r["actual_usd"] for r in by_model["rows"]} == {
        f"ft-{MINI}": "1.50", MINI: "0.75", UNKNOWN_MODEL: None,
    }  # fmt: skip

    exported = reader.get("/v1/reports/spend.csv", params=span)
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[2][:5] == ["2025-04", "inference", "", "unknown", ""]
    assert lines[2][-1] == UNKNOWN_MODEL
    assert lines[-1][:5] == ["total", "inference", "", "unknown", "2.10"]


def test_spend__csv_has_the_rows_and_totals_of_the_report(reports) -> None:
    _, reader = reports

    params = {**MARCH, "group_by": "team"}
    response = reader.get("/v1/reports/spend.csv", params=params)
    report = reader.get("/v1/reports/spend", params=params).json()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "spend-2025-03-01-2025-03-31-by-team.csv" in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0][:5] == ["team", "kind", "estimated_usd", "actual_usd", "billed_usd"]
    assert [line[:5] for line in lines[1:-1]] == [
        [r["group"], r["kind"], r["estimated_usd"] or "", r["actual_usd"], r["billed_usd"] or ""]
        for r in report["rows"]
    ]
    assert lines[-1][:5] == ["total", "", "0.40", "5.45", "3.34"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"kind": "batch"}, "kind"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-04-01", "to": "2025-03-01"}, "after"),
        ({"to": "9999-12-31"}, "before"),
    ],
)
def test_spend__bad_input_is_a_422_problem(reports, params, needle) -> None:
    _, reader = reports

    for path in ("/v1/reports/spend", "/v1/reports/spend.csv"):
        response = reader.get(path, params=params)

        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert needle in response.text


def test_spend__needs_a_key_with_the_read_scope(reports) -> None:
    app, _ = reports
    from service.auth.service import create_key

    with session_scope(app.state.engine) as session:
        _, estimate_only = create_key(session, name="estimator", scopes=["estimate"])

    with client_for(app, None) as anonymous, client_for(app, estimate_only) as estimator:
        assert anonymous.get("/v1/reports/spend", params=MARCH).status_code == 401
        assert estimator.get("/v1/reports/spend", params=MARCH).status_code == 403
    with client_for(app, ADMIN_SECRET) as admin:
        assert admin.get("/v1/reports/spend", params=MARCH).status_code == 200


def test_spend__is_documented_with_its_problems_and_money_as_strings(reports) -> None:
    app, _ = reports

    document = app.openapi()

    operation = document["paths"]["/v1/reports/spend"]["get"]
    assert {"401", "403", "422"} <= set(operation["responses"])
    assert "application/problem+json" in operation["responses"]["422"]["content"]
    group_by = next(p for p in operation["parameters"] if p["name"] == "group_by")
    assert group_by["schema"]["enum"] == ["month", "team", "model", "kind"]
    row = document["components"]["schemas"]["KindSpendRow"]["properties"]
    assert {"type": "string"} in row["actual_usd"]["anyOf"]
    assert "/v1/reports/spend.csv" in document["paths"]
