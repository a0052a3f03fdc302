"""Monthly team budgets: set by admins, checked before every launch, forced only by an admin."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from tests.service.jobs.conftest import SQLITE_ONLY, JobsEnv


def test_budget__over_budget_launch_is_refused_with_the_figures(env: JobsEnv) -> None:
    env.admin.put("/v1/budgets/ml-platform", json={"monthly_usd": "0.50"})
    first = env.launch().json()  # about $0.49 at 10 epochs

    response = env.launch()

    assert response.status_code == 409
    problem = response.json()
    spent = Decimal(first["estimated_cost_usd"])
    assert problem["code"] == "over_budget"
    assert problem["monthly_budget_usd"] == "0.50"
    assert Decimal(problem["spent_usd"]) == spent
    assert Decimal(problem["remaining_usd"]) == Decimal("0.50") - spent
    assert Decimal(problem["estimate_usd"]) > Decimal(problem["remaining_usd"])
    assert problem["estimate_usd"] in problem["detail"] and "ml-platform" in problem["detail"]
    assert len(env.fake.create_job_requests) == 1
    refused = env.reader.get("/v1/jobs", params={"status": "launch_failed"}).json()["items"]
    assert [r["error"]["code"] for r in refused] == ["over_budget"]
    assert refused[0]["estimated_cost_usd"] == problem["estimate_usd"]


def test_budget__admin_can_force_a_launch_over_budget_and_it_counts(env: JobsEnv) -> None:
    env.admin.put("/v1/budgets/ml-platform", json={"monthly_usd": "0.01"})

    assert env.launch(force=True).json()["code"] == "force_needs_admin"
    forced = env.launch(env.admin, force=True)

    assert forced.status_code == 201, forced.text
    assert any("launched anyway" in e["message"] for e in forced.json()["events"])
    budget = env.reader.get("/v1/budgets/ml-platform").json()
    assert budget["spent_usd"] == forced.json()["estimated_cost_usd"]
    assert Decimal(budget["remaining_usd"]) < 0


def test_budget__spend_is_actual_where_known_else_estimate_and_skips_refusals(env: JobsEnv) -> None:
    env.fake.count_text_tokens = lambda text, encoding: len(
        text
    )  # actual differs from the estimate
    finished = env.launch(hyperparameters={"n_epochs": 1}).json()
    watcher = env.watcher()
    for _ in range(3):
        env.advance()
        watcher.tick()
    running = env.launch(hyperparameters={"n_epochs": 1}).json()
    env.fake.inject_fault(
        "error", path="/v1/fine_tuning/jobs", method="POST", status=400, message="no"
    )
    assert env.launch().status_code == 422  # refused by OpenAI: costs nothing

    budget = env.reader.get("/v1/budgets/ml-platform").json()

    actual = Decimal(env.job(finished["id"])["actual_cost_usd"])
    assert actual != Decimal(finished["estimated_cost_usd"])
    assert Decimal(budget["spent_usd"]) == actual + Decimal(running["estimated_cost_usd"])
    assert budget["jobs"] == 2 and budget["monthly_usd"] is None and budget["remaining_usd"] is None


def test_budgets__put_get_list_delete(env: JobsEnv) -> None:
    put = env.admin.put("/v1/budgets/ml-platform", json={"monthly_usd": "500.00"})
    assert put.status_code == 200, put.text
    assert put.json()["monthly_usd"] == "500.00" and put.json()["updated_by"] == "admin"
    env.admin.put("/v1/budgets/research", json={"monthly_usd": "1200"})

    listed = env.reader.get("/v1/budgets").json()
    assert [(b["team"], b["monthly_usd"], b["spent_usd"]) for b in listed["items"]] == [
        ("ml-platform", "500.00", "0.00"),
        ("research", "1200.00", "0.00"),
    ]
    assert env.reader.get("/v1/budgets/research").json()["remaining_usd"] == "1200.00"
    assert env.reader.get("/v1/budgets/nobody").json()["monthly_usd"] is None

    assert env.admin.delete("/v1/budgets/research").status_code == 204
    assert env.admin.delete("/v1/budgets/research").status_code == 404
    assert [b["team"] for b in env.reader.get("/v1/budgets").json()["items"]] == ["ml-platform"]


@SQLITE_ONLY
def test_budgets__only_admins_set_them_and_money_is_a_decimal_string(env: JobsEnv) -> None:
    assert env.launcher.put("/v1/budgets/ml-platform", json={"monthly_usd": "5"}).status_code == 403
    for bad in (500.5, "-1", "lots", "NaN", None):
        response = env.admin.put("/v1/budgets/ml-platform", json={"monthly_usd": bad})
        assert response.status_code == 422, (bad, response.text)
    assert env.admin.put("/v1/budgets/a%2Fb", json={"monthly_usd": "5"}).status_code in (404, 422)
    assert env.reader.get("/v1/budgets", params={"month": "2025-13"}).status_code == 422


def test_budget__concurrent_launches_cannot_both_squeeze_under_it(env: JobsEnv) -> None:
    estimate = Decimal(
        env.launcher.post("/v1/jobs/preview", json=env.body()).json()["estimate"]["cost_usd"]
    )
    env.admin.put(
        "/v1/budgets/ml-platform", json={"monthly_usd": str(estimate * 3 / 2)}
    )  # room for one
    bodies = [env.body(), env.body()]
    start = threading.Barrier(2)

    def launch(body: dict[str, object]) -> int:
        start.wait()
        return env.launcher.post("/v1/jobs", json=body).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(launch, bodies))

    assert statuses == [201, 409]
    assert len(env.fake.jobs) == 1


def test_idempotency__the_same_key_twice_at_once_makes_one_job(env: JobsEnv) -> None:
    body = env.body()
    start = threading.Barrier(2)

    def launch(_: int) -> tuple[int, str]:
        start.wait()
        response = env.launcher.post(
            "/v1/jobs", json=body, headers={"Idempotency-Key": "double-click"}
        )
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(launch, range(2)))

    assert [status for status, _ in results] == [200, 201]
    assert results[0][1] == results[1][1]
    assert len(env.fake.jobs) == 1
