"""Launching from the dashboard: the API's launch (estimate, budget, idempotency) behind a form
that needs the launch scope and the session's CSRF token; against the loopback fake OpenAI."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.service.jobs.conftest import JobsEnv, clock, env, fake, fake_openai_server
from tests.service.ui.conftest import form_value, new_key, sign_in

__all__ = ["clock", "env", "fake", "fake_openai_server"]
CREATE = "POST /v1/fine_tuning/jobs"


def launcher(env: JobsEnv) -> TestClient:
    client = TestClient(env.app, raise_server_exceptions=False, follow_redirects=False)
    assert sign_in(client, new_key(env.app, "read", "launch")).status_code == 303
    return client


def launch_form(client: TestClient, env: JobsEnv, **fields: str) -> dict[str, str]:
    page = client.get("/ui/jobs").text
    return {
        "training_file": env.upload(),
        "model": "gpt-4o-mini",
        "team": "ml-platform",
        "csrf": form_value(page, "csrf"),
        "idempotency_key": form_value(page, "idempotency_key"),
        **fields,
    }


def test_launch__the_form_launches_once_with_the_apis_estimate(env: JobsEnv) -> None:
    client = launcher(env)
    form = launch_form(client, env)

    first = client.post("/ui/jobs", data=form)
    again = client.post("/ui/jobs", data=form)  # a double click, a reload: the same launch

    assert first.status_code == 303 and first.headers["location"] == "/ui/jobs?team=ml-platform"
    assert again.status_code == 303
    jobs = env.reader.get("/v1/jobs", params={"team": "ml-platform"}).json()["items"]
    assert len(jobs) == 1 and jobs[0]["estimated_cost_usd"]
    assert env.openai_requests(CREATE) == 1
    page = client.get(first.headers["location"]).text
    assert jobs[0]["id"] in page and jobs[0]["estimated_cost_usd"] in page


def test_launch__over_budget_is_refused_as_on_the_api(env: JobsEnv) -> None:
    env.admin.put("/v1/budgets/ml-platform", json={"monthly_usd": "0.00"})
    client = launcher(env)

    response = client.post("/ui/jobs", data=launch_form(client, env))

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("text/html")
    assert env.openai_requests(CREATE) == 0


def test_launch__bad_fields_are_a_422_page(env: JobsEnv) -> None:
    client = launcher(env)

    response = client.post("/ui/jobs", data=launch_form(client, env, team="no/slashes here"))

    assert response.status_code == 422 and "team" in response.text


def test_job_page__timeline_draws_each_event_of_the_table(env: JobsEnv) -> None:
    client = launcher(env)
    launched = client.post("/ui/jobs", data=launch_form(client, env))
    assert launched.status_code == 303
    watcher = env.watcher()
    for _ in range(3):
        env.advance()
        watcher.tick()
    [job] = env.reader.get("/v1/jobs", params={"team": "ml-platform"}).json()["items"]

    page = client.get(f"/ui/jobs/{job['id']}").text

    assert f'<td id="job-status">{job["status"]}</td>' in page and job["status"] == "succeeded"
    assert f'<td class="actual">{job["actual_cost_usd"]} (prices of' in page
    events = env.reader.get(f"/v1/jobs/{job['id']}").json()["events"]
    assert len(events) > 2
    assert page.count('<circle class="event') == len(events)
    assert page.split('id="events-table"')[1].count("<tr><td>") == len(events)


def test_job_page__an_unknown_job_is_a_404_page(env: JobsEnv) -> None:
    client = launcher(env)

    response = client.get("/ui/jobs/job_nope")

    assert response.status_code == 404 and "text/html" in response.headers["content-type"]
