"""The dashboard in a real browser: sign in with the printed-style key, charts that draw the
table's numbers, a filter that lives in the URL, a refused launch for a read key, and not one
request to any host but the service."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.service.conftest import ADMIN_SECRET
from tests.service.ui.browser import chromium, needs_browser, requested_urls, served
from tests.service.ui.conftest import THIS_YEAR, Dashboard, new_key, seed_inference

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_browser]


@pytest.fixture
def site(dashboard: Dashboard) -> Iterator[str]:
    with served(dashboard.app) as base:
        yield base


@pytest.fixture
def browser(tmp_path) -> Iterator[Any]:
    with chromium(tmp_path / "profile") as driver:
        yield driver


def sign_in(driver: Any, base: str, secret: str, path: str = "/ui/spend") -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + path)
    assert urlparse(driver.current_url).path == "/ui/sign-in"  # not signed in yet
    driver.find_element(By.ID, "key").send_keys(secret)
    driver.find_element(By.ID, "sign-in").click()
    # The header names the key once the session's first page has loaded.
    wait_for(driver, lambda d: d.find_elements(By.ID, "who"))


def wait_for(driver: Any, condition: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(condition)


def bars(driver: Any, chart_id: str) -> dict[tuple[str, str], Decimal]:
    from selenium.webdriver.common.by import By

    return {
        (r.get_attribute("data-category"), r.get_attribute("data-series")): Decimal(
            r.get_attribute("data-value")
        )
        for r in driver.find_elements(By.CSS_SELECTOR, f"#{chart_id} rect.bar")
    }


def table_rows(driver: Any, table_id: str) -> dict[str, tuple[Decimal, Decimal]]:
    from selenium.webdriver.common.by import By

    rows = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr[data-group]"):
        estimated = tr.find_element(By.CSS_SELECTOR, "td.estimated").text
        actual = tr.find_element(By.CSS_SELECTOR, "td.actual").text
        rows[tr.get_attribute("data-group")] = (Decimal(estimated), Decimal(actual))
    return rows


def test_browser__sign_in_and_the_spend_chart_draws_the_tables_numbers(
    site: str, browser: Any
) -> None:
    sign_in(browser, site, ADMIN_SECRET)

    assert urlparse(browser.current_url).path == "/ui/spend"
    table = table_rows(browser, "spend-table")
    drawn = bars(browser, "spend-chart-training")
    assert set(table) == {f"{m[:4]}-01", f"{m[:4]}-02"} if (m := next(iter(table))) else False
    assert drawn == {
        (group, series): amount
        for group, (estimated, actual) in table.items()
        for series, amount in (("estimated", estimated), ("actual", actual))
    }
    # team a's running job is estimated, the two finished ones actual.
    assert sorted(table.values()) == [
        (Decimal(0), Decimal("1.25")),
        (Decimal("0.40"), Decimal("2.10")),
    ]
    # the bars are drawn to scale: the taller of two values has the taller bar
    heights = {
        (r.get_attribute("data-category"), r.get_attribute("data-series")): float(
            r.get_attribute("height")
        )
        for r in browser.find_elements("css selector", "#spend-chart-training rect.bar")
    }
    ranked = sorted(drawn, key=drawn.__getitem__)
    assert [heights[k] for k in ranked] == sorted(heights.values())


def test_browser__a_filter_changes_the_url_and_the_data(site: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, site, ADMIN_SECRET)
    Select(browser.find_element(By.ID, "group_by")).select_by_value("team")
    browser.find_element(By.ID, "apply").click()
    wait_for(browser, lambda d: "group_by=team" in d.current_url)

    assert parse_qs(urlparse(browser.current_url).query)["group_by"] == ["team"]
    assert table_rows(browser, "spend-table") == {
        "a": (Decimal("0.40"), Decimal("1.25")),
        "b": (Decimal(0), Decimal("2.10")),
    }
    assert {c for c, _ in bars(browser, "spend-chart-training")} == {"a", "b"}
    # the URL is the view: opened afresh it shows the same thing
    shared = browser.current_url
    browser.get(site + "/ui/jobs")
    browser.get(shared)
    assert set(table_rows(browser, "spend-table")) == {"a", "b"}


def test_browser__the_kind_filter_charts_inference_actual_beside_billed(
    site: str, browser: Any, dashboard: Dashboard
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    seed_inference(dashboard.app, unpriced=False)
    sign_in(browser, site, ADMIN_SECRET)
    Select(browser.find_element(By.ID, "kind")).select_by_value("inference")
    browser.find_element(By.ID, "apply").click()
    wait_for(browser, lambda d: "kind=inference" in d.current_url)

    month = f"{THIS_YEAR}-02"
    # Reported and imported usage counted once, priced; OpenAI's bill beside it; no estimate.
    assert bars(browser, "spend-chart-inference") == {
        (month, "actual"): Decimal("0.45"),
        (month, "billed"): Decimal("0.45"),
    }
    assert browser.find_elements(By.ID, "spend-chart-training") == []
    [row] = browser.find_elements(By.CSS_SELECTOR, "#spend-table tbody tr[data-kind=inference]")
    assert row.get_attribute("data-group") == month
    assert row.find_element(By.CSS_SELECTOR, "td.estimated").text == "not estimated"
    assert row.find_element(By.CSS_SELECTOR, "td.actual").text == "0.45"


def test_browser__a_read_key_sees_jobs_but_its_launch_is_refused(
    site: str, browser: Any, dashboard: Dashboard
) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site, new_key(dashboard.app, "read"), path="/ui/jobs")
    assert urlparse(browser.current_url).path == "/ui/jobs"
    assert browser.find_elements(By.ID, "launch-form") == []
    assert len(browser.find_elements(By.CSS_SELECTOR, "#jobs-table tr[data-job]")) == 3

    # Submit a launch anyway, with the session's own CSRF token: the scope still refuses it.
    browser.execute_script(
        """
        const form = document.createElement('form');
        form.method = 'post'; form.action = '/ui/jobs';
        const csrf = document.querySelector('input[name=csrf]').value;
        for (const [k, v] of Object.entries({training_file: 'file-abc', model: 'gpt-4o-mini',
                                             team: 'a', idempotency_key: 'k1', csrf})) {
          const input = document.createElement('input');
          input.name = k; input.value = v; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();
        """
    )

    wait_for(browser, lambda d: d.find_elements(By.ID, "detail"))
    detail = browser.find_element(By.ID, "detail").text
    assert "lacks the 'launch' scope" in detail
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Forbidden"


def test_browser__every_page_loads_only_from_the_service(site: str, browser: Any) -> None:
    sign_in(browser, site, ADMIN_SECRET)
    for path in (
        "/ui/spend?group_by=model",
        "/ui/models",
        "/ui/pools",
        "/ui/pools/gpt-4o-mini?window=day",
        "/ui/jobs",
        "/ui/jobs/job_ui_a1",
        "/ui/prices",
    ):
        browser.get(site + path)
        assert "Internal Server Error" not in browser.page_source
        assert browser.find_elements("css selector", "svg.chart"), path
        resources = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert resources and all(r.startswith(site + "/") for r in resources), resources
        # What the page links to at all (a blocked CDN script would never reach the network).
        linked = browser.execute_script(
            "return [...document.querySelectorAll('[src],[href],[action]')]"
            ".map(e => e.src || e.href || e.action)"
        )
        assert all(u.startswith(site + "/") for u in linked), linked

    urls = requested_urls(browser)

    assert any(u.endswith("/ui/static/ui.css") for u in urls)
    # chrome:// pages are the browser's own resources (its blank tab), not the network.
    network = [u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss", "ftp")]
    assert network and [u for u in network if not u.startswith(site + "/")] == []
