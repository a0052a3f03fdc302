"""Each dashboard page shows the same figures as the REST API, with its filters in the URL."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

from starlette.testclient import TestClient

from service.db import session_scope
from tests.service.ui.conftest import (
    ADMIN_SECRET,
    THIS_YEAR,
    Dashboard,
    cost_line,
    seed_inference,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}


def chart(html: str, chart_id: str) -> str:
    return html.split(f'id="{chart_id}"', 1)[1].split("</svg>", 1)[0]


def cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    ]


def test_spend__grouped_by_team_matches_the_rest_report(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    span = {"from": f"{THIS_YEAR}-01-01", "to": f"{THIS_YEAR}-12-31", "group_by": "team"}

    page = client.get("/ui/spend", params=span)
    report = client.get("/v1/reports/spend", params=span, headers=ADMIN).json()

    assert page.status_code == 200
    assert [[r[0], r[1], r[3], r[4]] for r in cells(page.text, "spend-table")] == [
        [r["group"], r["kind"], r["estimated_usd"], r["actual_usd"]] for r in report["rows"]
    ]
    assert [r["group"] for r in report["rows"]] == ["a", "b"]
    # Nothing imported from OpenAI's Costs API: no billed figure, and no billed bars.
    assert {r[5] for r in cells(page.text, "spend-table")} == {"—"}
    assert 'data-series="billed"' not in page.text
    assert 'data-category="b" data-series="actual" data-value="2.10"' in page.text


def test_spend__openais_billed_figure_stands_beside_estimate_and_actual(
    dashboard: Dashboard,
) -> None:
    with session_scope(dashboard.app.state.engine) as session:
        session.add(
            cost_line(
                date(THIS_YEAR, 2, 5), "ft-gpt-4o-mini-2024-07-18 training", "2.05",
                kind="training", component="training",
            )
        )  # fmt: skip
    client = dashboard.signed_in(ADMIN_SECRET)
    span = {"from": f"{THIS_YEAR}-01-01", "to": f"{THIS_YEAR}-12-31", "group_by": "month"}

    page = client.get("/ui/spend", params=span)
    report = client.get("/v1/reports/spend", params=span, headers=ADMIN).json()

    billed = {r["group"]: r["billed_usd"] for r in report["rows"]}
    assert billed[f"{THIS_YEAR}-02"] == "2.05"
    assert {r[0]: r[5] for r in cells(page.text, "spend-table")}[f"{THIS_YEAR}-02"] == "2.05"
    training_chart = chart(page.text, "spend-chart-training")
    assert f'data-category="{THIS_YEAR}-02" data-series="billed" data-value="2.05"' in (
        training_chart
    )


def test_spend__by_kind_charts_inference_beside_training_from_the_url(
    dashboard: Dashboard,
) -> None:
    seed_inference(dashboard.app)
    client = dashboard.signed_in(ADMIN_SECRET)
    span = {"from": f"{THIS_YEAR}-01-01", "to": f"{THIS_YEAR}-12-31", "group_by": "kind"}

    page = client.get("/ui/spend", params=span)
    report = client.get("/v1/reports/spend", params=span, headers=ADMIN).json()

    assert page.status_code == 200
    assert [r[:2] + r[3:6] for r in cells(page.text, "spend-table")] == [
        ["training", "training", "0.40", "3.35", "—"],
        ["inference", "inference", "not estimated", "unknown", "0.45"],
    ]
    assert [r["actual_usd"] for r in report["rows"]] == ["3.35", None]
    training = chart(page.text, "spend-chart-training")
    assert 'data-category="training" data-series="estimated" data-value="0.40"' in training
    # Inference is not estimated (no bar, not a zero one), and its actual is unknown: a model
    # without a price. It is named under the chart, not drawn as a zero.
    inference = chart(page.text, "spend-chart-inference")
    assert 'data-series="estimated"' not in inference and 'data-series="actual"' not in inference
    assert "gpt-9-preview" in page.text.split('id="uncharted-inference"', 1)[1].split("</p>")[0]

    by_month = client.get("/ui/spend", params={**span, "group_by": "model", "kind": "inference"})

    assert 'name="kind"' in by_month.text and '<option value="inference" selected>' in by_month.text
    assert "spend-chart-training" not in by_month.text
    rows = {r[0]: r[4] for r in cells(by_month.text, "spend-table")}
    assert rows == {"gpt-4o-mini-2024-07-18": "0.45", "gpt-9-preview": "unknown"}
    inference = chart(by_month.text, "spend-chart-inference")
    assert (
        'data-category="gpt-4o-mini-2024-07-18" data-series="actual" data-value="0.45"'
    ) in inference
    assert (
        'data-category="gpt-4o-mini-2024-07-18" data-series="billed" data-value="0.45"'
    ) in inference
    assert 'data-category="gpt-9-preview"' not in inference
    [link] = re.findall(r'href="(/ui/spend\.csv\?[^"]+)"', by_month.text)
    assert "kind=inference" in link and "group_by=model" in link


def test_spend__csv_export_keeps_the_filters_and_needs_the_session(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    page = client.get("/ui/spend", params={"group_by": "model", "kind": "training"})
    [link] = re.findall(r'href="(/ui/spend\.csv\?[^"]+)"', page.text)

    response = client.get(link.replace("&amp;", "&"))

    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:2] == ["model", "kind"]
    assert rows[1][:2] == ["gpt-4o-mini-2024-07-18", "training"]
    assert rows[-1][:2] == ["total", "training"]
    assert dashboard.browser().get(link.replace("&amp;", "&")).status_code == 303


def test_spend__a_bad_filter_is_a_422_page_not_a_500(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)

    for params in ({"group_by": "colour", "from": "yesterday"}, {"kind": "batch"}):
        response = client.get("/ui/spend", params=params)

        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert next(iter(params)) in response.text and "Traceback" not in response.text


def test_jobs__team_filter_and_estimate_beside_actual(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)

    rows = cells(client.get("/ui/jobs", params={"team": "a"}).text, "jobs-table")

    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("job_ui_a2", "a", "running", "0.40", ""),
        ("job_ui_a1", "a", "succeeded", "1.50", "1.25"),
    ]


def test_models__lists_the_fine_tuned_models_with_their_bases_countdown(
    dashboard: Dashboard,
) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)

    page = client.get("/ui/models", params={"as_of": f"{THIS_YEAR}-06-01", "horizon": 3650})

    rows = cells(page.text, "fine-tuned-table")
    assert [r[0] for r in rows] == [
        "ft:gpt-4o-mini-2024-07-18:acme::b1",
        "ft:gpt-4o-mini-2024-07-18:acme::a1",
    ]
    assert {r[2] for r in rows} == {"gpt-4o-mini-2024-07-18"}
    listed = client.get("/v1/models", params={"as_of": f"{THIS_YEAR}-06-01"}, headers=ADMIN).json()[
        "models"
    ]
    dated = [m for m in listed if m["days_left"] is not None and m["shutdown_date"]]
    ending = sorted((m["days_left"], m["id"]) for m in dated if m["days_left"] > 0)
    assert ending, "the catalogue has models shutting down after the day"
    assert [(int(r[3]), r[0]) for r in cells(page.text, "countdown-table")] == ending
    for days_left, model in ending:
        assert f'data-category="{model}" data-series="days_left" data-value="{days_left}"' in (
            page.text
        )
    # Models already shut down are listed apart, not counted down from zero.
    gone = {r[0] for r in cells(page.text, "gone-table")}
    assert gone == {m["id"] for m in dated if m["days_left"] == 0}
    assert not gone & {model for _, model in ending}


def test_pools__show_usage_limit_and_threshold(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    client.put("/v1/usage/limits/gpt-4o-mini", json={"tokens_per_minute": 10000}, headers=ADMIN)
    client.post(
        "/v1/usage",
        json={
            "model": "gpt-4o-mini",
            "prompt_tokens": 2000,
            "completion_tokens": 500,
            "timestamp": datetime.now(UTC).isoformat(),
        },
        headers=ADMIN,
    )

    page = client.get("/ui/pools")

    [row] = [r for r in cells(page.text, "pools-table") if r[0] == "gpt-4o-mini"]
    assert row[1:5] == ["2500", "10000", "25.0", "80"]
    assert 'data-category="gpt-4o-mini" data-series="utilisation" data-value="25' in page.text
    assert 'class="threshold"' in page.text


def test_pages__forbid_scripts_framing_and_foreign_loads(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)

    response = client.get("/ui/spend")

    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert "script" not in csp and "<script" not in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_static__serves_the_style_sheet_and_nothing_else(dashboard: Dashboard) -> None:
    client = dashboard.browser()

    assert client.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/..%2Fsession.py").status_code == 404
    assert client.get("/ui/static/router.py").status_code == 404


def test_prices__table_in_force_and_diff_match_the_rest_api(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    span = {"from": "2023-08-22", "to": "2023-11-06"}

    page = client.get("/ui/prices", params={"as_of": "2024-03-01", **span})

    diff = client.get("/v1/prices/diff", params=span, headers=ADMIN).json()["changes"]
    assert [r for r in cells(page.text, "diff-table")] == [
        [c["model"], c["field"], c["old"] or "—", c["new"] or "—"] for c in diff
    ]
    changed = next(c for c in diff if c["old"] and c["new"])
    assert (
        f'data-category="{changed["model"]} {changed["field"].removeprefix("usd_per_1m_")}" '
        f'data-series="new" '
        f'data-value="{changed["new"]}"'
    ) in page.text
    table = client.get("/v1/prices", params={"as_of": "2024-03-01"}, headers=ADMIN).json()
    assert f"version {table['version']}" in page.text
    assert {r[0] for r in cells(page.text, "prices-table")} == set(table["models"])


def test_prices__an_unknown_version_is_a_404_page(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)

    response = client.get("/ui/prices", params={"from": "1999-01-01"})

    assert response.status_code == 404
    assert "no price version" in response.text


def record_usage(client: TestClient, tokens: int, model: str = "gpt-4o-mini") -> None:
    response = client.post(
        "/v1/usage",
        json={
            "model": model,
            "prompt_tokens": tokens,
            "timestamp": datetime.now(UTC).isoformat(),
        },
        headers=ADMIN,
    )
    assert response.status_code in (200, 201), response.text


def test_pool__last_hour_by_minute_with_the_limit_line_and_model_shares(
    dashboard: Dashboard,
) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    client.put("/v1/usage/limits/gpt-4o-mini", json={"tokens_per_minute": 10000}, headers=ADMIN)
    record_usage(client, 3000)
    record_usage(client, 1000, model="ft:gpt-4o-mini-2024-07-18:acme::a1")

    page = client.get("/ui/pools/gpt-4o-mini", params={"window": "hour"})

    assert page.status_code == 200
    minutes = cells(page.text, "history-table")
    assert len(minutes) in (60, 61) and sum(int(r[1]) for r in minutes) == 4000
    assert 'class="threshold"' in page.text and 'data-value="10000"' in page.text
    shares = {r[0]: r[4] for r in cells(page.text, "shares-table")}
    assert shares == {
        "gpt-4o-mini-2024-07-18": "75.0",
        "ft:gpt-4o-mini-2024-07-18:acme::a1": "25.0",
    }


def test_pool__a_day_is_drawn_in_ten_minute_bars_at_their_busiest_minute(
    dashboard: Dashboard,
) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    record_usage(client, 3000)

    page = client.get("/ui/pools/gpt-4o-mini", params={"window": "day"})

    rows = cells(page.text, "history-table")
    assert len(rows) in (144, 145)
    assert max(int(r[1]) for r in rows) == 3000
    assert page.text.count('class="bar series-tokens"') == len(rows) + len(
        cells(page.text, "shares-table")
    )


def test_pool__the_planner_answers_in_the_page(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    client.put("/v1/usage/limits/gpt-4o-mini", json={"tokens_per_minute": 10000}, headers=ADMIN)
    plan = {"model": "gpt-4o-mini", "requests_per_minute": 20, "tokens_per_request": 1000}

    page = client.get("/ui/pools/gpt-4o-mini", params=plan)
    api = client.post("/v1/usage/plan", json=plan, headers=ADMIN).json()

    assert api["fits"] is False
    assert f'id="plan-result" class="error">{api["summary"]}' in page.text.replace("&#39;", "'")


def test_pool__an_unknown_family_is_a_page_not_a_500(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)

    response = client.get("/ui/pools/no-such-model")

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")


def test_models__a_fine_tuned_model_of_an_unknown_base_does_not_hide_the_rest(
    dashboard: Dashboard,
) -> None:
    from service.db import session_scope
    from service.jobs.models import Job

    with session_scope(dashboard.app.state.engine) as session:
        job = session.get(Job, "job_ui_b1")
        assert job is not None
        job.fine_tuned_model = "ft:a-model-nobody-knows:acme::zz"
    client = dashboard.signed_in(ADMIN_SECRET)

    page = client.get("/ui/models")

    assert page.status_code == 200
    assert [r[0] for r in cells(page.text, "fine-tuned-table")] == [
        "ft:gpt-4o-mini-2024-07-18:acme::a1"
    ]


def test_spend__only_a_past_end_date_opens_on_that_year(dashboard: Dashboard) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)

    page = client.get("/ui/spend", params={"to": f"{THIS_YEAR - 1}-06-30"})

    assert page.status_code == 200
    assert f'name="from" value="{THIS_YEAR - 1}-01-01"' in page.text


def test_migration__each_fine_tuned_model_priced_on_its_replacement_as_the_rest_api_does(
    dashboard: Dashboard,
) -> None:
    client = dashboard.signed_in(ADMIN_SECRET)
    name = "ft:gpt-4o-mini-2024-07-18:acme::a1"
    response = client.post(
        "/v1/usage",
        json={
            "model": name,
            "prompt_tokens": 200,
            "completion_tokens": 100,
            "timestamp": datetime.now(UTC).isoformat(),
        },
        headers=ADMIN,
    )
    assert response.status_code in (200, 201), response.text

    page = client.get("/ui/migration", params={"prompt_cut_pct": "90", "tier": "batch"})
    plan = client.get(
        f"/v1/planning/fine-tuned-models/{name}/scenarios",
        params={"model": "recommended", "prompt_cut_pct": "90", "tier": "batch", "openai": "false"},
        headers=ADMIN,
    ).json()

    assert page.status_code == 200
    [row] = [r for r in cells(page.text, "migration-table") if r[0] == name]
    [scenario] = [s for s in plan["scenarios"] if s["recommended"]]
    assert row[3] == scenario["model"] == "gpt-6-luna"
    assert row[4:6] == [plan["today"]["cost_per_month_usd"], scenario["cost"]["cost_per_month_usd"]]
    assert 'id="migration-chart"' in page.text
    # The filters live in the URL: a GET form that keeps what was asked.
    assert '<form method="get" action="/ui/migration"' in page.text
    assert 'name="prompt_cut_pct" min="0" max="99" step="any" value="90"' in page.text
