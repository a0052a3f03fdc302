"""Each likely cause the reconciliation names, one small scenario each, and its input checks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from service.db import session_scope
from service.usage.models import UsageBucket
from tests.service.billing.conftest import SQLITE_ONLY, BillingEnv, unix
from tests.service.conftest import client_for

pytestmark = SQLITE_ONLY


def _usage(env: BillingEnv, day: date, model: str, prompt: int, completion: int) -> None:
    with session_scope(env.app.state.engine) as session:
        session.add(
            UsageBucket(
                org="acme", family="x", bucket=unix(day, 600), model=model,
                tokens=prompt + completion, requests=1, prompt_tokens=prompt,
                completion_tokens=completion,
            )
        )  # fmt: skip


def _bill(
    env: BillingEnv, day: date, line: str, amount: str, quantity: int | None, project: str = "p1"
) -> None:
    env.fake.add_cost(
        at=unix(day, 60), amount=Decimal(amount), line_item=line, project_id=project,
        quantity=quantity, quantity_unit="tokens" if quantity is not None else None,
    )  # fmt: skip


def _rows(env: BillingEnv, day: date, **params: object) -> dict[str, dict]:
    response = env.admin.post(
        "/v1/billing/imports", json={"start": day.isoformat(), "end": "2025-07-01"}
    )
    assert response.status_code == 201, response.text
    report = env.reader.get(
        "/v1/billing/reconciliation",
        params={"from": day.isoformat(), "to": day.isoformat(), **params},
    )
    assert report.status_code == 200, report.text
    return {
        r["group"].get("line_item") or r["group"].get("project", ""): r
        for r in report.json()["rows"]
    }


def test_reconciliation__a_bill_at_an_older_versions_price_names_that_version(
    env: BillingEnv,
) -> None:
    day = date(2025, 6, 12)  # o3 input fell from $10 to $2 per 1M on 2025-06-10
    _usage(env, day, "o3-2025-04-16", 1_000_000, 0)
    _bill(env, day, "o3-2025-04-16, input", "10", 1_000_000)
    row = _rows(env, day)["o3-2025-04-16, input"]
    assert row["causes"] == ["price_version_disagrees"]
    assert "$10.00 per 1M" in row["notes"][0] and "2025-06-10" in row["notes"][0]


def test_reconciliation__traffic_ratecard_saw_but_openai_did_not_bill(env: BillingEnv) -> None:
    day = date(2025, 6, 12)
    _usage(env, day, "gpt-4o-mini-2024-07-18", 2_000_000, 0)
    row = _rows(env, day)["gpt-4o-mini-2024-07-18, input"]
    assert (row["billed_usd"], row["computed_usd"]) == ("0.00", "0.30")
    assert row["causes"] == ["traffic_not_billed"]


def test_reconciliation__batch_lines_ratecard_cannot_see_are_traffic_not_seen(
    env: BillingEnv,
) -> None:
    day = date(2025, 6, 12)
    _bill(env, day, "gpt-4o-mini-2024-07-18, batch input", "0.15", 2_000_000)
    row = _rows(env, day)["gpt-4o-mini-2024-07-18, batch input"]
    assert row["causes"] == ["traffic_not_seen"] and row["computed_usd"] == "0.00"


def test_reconciliation__differences_within_the_threshold_are_not_flagged(
    env: BillingEnv,
) -> None:
    day = date(2025, 6, 12)
    _usage(env, day, "gpt-4o-2024-08-06", 10_000_000, 0)  # $25.00 at ratecard's price
    _bill(env, day, "gpt-4o-2024-08-06, input", "24.90", 10_000_000)  # 0.4% under
    row = _rows(env, day)["gpt-4o-2024-08-06, input"]
    assert (row["difference_usd"], row["difference_pct"]) == ("-0.10", "-0.40")
    assert not row["flagged"] and row["causes"] == []
    strict = env.reader.get(
        "/v1/billing/reconciliation",
        params={"from": day.isoformat(), "to": day.isoformat(), "threshold_pct": "0.1"},
    ).json()["rows"][0]
    assert strict["flagged"] and strict["causes"] == ["missing_discount"]


def test_reconciliation__by_project_the_computed_figure_follows_the_one_project_billed(
    env: BillingEnv,
) -> None:
    day = date(2025, 6, 12)
    _usage(env, day, "gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000)
    _bill(env, day, "gpt-4o-mini-2024-07-18, input", "0.15", 1_000_000, project="proj_a")
    _bill(env, day, "gpt-4o-mini-2024-07-18, output", "0.36", 600_000, project="proj_a")
    _bill(env, day, "gpt-4o-mini-2024-07-18, output", "0.24", 400_000, project="proj_b")
    rows = _rows(env, day, group_by=["project"])
    assert (rows["proj_a"]["billed_usd"], rows["proj_a"]["computed_usd"]) == ("0.51", "0.15")
    assert (rows["proj_b"]["billed_usd"], rows["proj_b"]["computed_usd"]) == ("0.24", "0.00")
    # The output was billed to two projects: ratecard's figure cannot be split between them.
    unattributed = rows["(unattributed)"]
    assert (unattributed["billed_usd"], unattributed["computed_usd"]) == ("0.00", "0.60")


def test_reconciliation__bad_ranges_and_groupings_are_problems(env: BillingEnv) -> None:
    for params in (
        {"from": "2025-03-02", "to": "2025-03-01"},
        {"from": "2024-01-01", "to": "2025-03-01"},
        {"group_by": "team"},
        {"group_by": ["day", "day"]},
        {"threshold_pct": "101"},
        {"threshold_pct": "NaN"},
        {"from": "2025-02-30"},
    ):
        response = env.reader.get("/v1/billing/reconciliation", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    with client_for(env.app, None) as anonymous:
        assert anonymous.get("/v1/billing/reconciliation").status_code == 401
