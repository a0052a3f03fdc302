"""The issue's acceptance path: `ratecard serve --demo`, open /ui, sign in with the printed key,
launch the demo job from the page and watch it finish; spend and pools draw as charts."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.service.test_serve import serve
from tests.service.ui.browser import chromium, needs_browser
from tests.service.ui.test_browser import bars, sign_in, table_rows, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_browser]


def printed(log: str) -> tuple[str, str]:
    key = next(line.strip() for line in log.splitlines() if line.strip().startswith("rc_"))
    match = re.search(r"uploaded to the fake as (file-[A-Za-z0-9_-]+)", log.replace("\n", " "))
    assert match, log
    return key, match.group(1)


def job_status(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    [row] = driver.find_elements(By.CSS_SELECTOR, "#jobs-table tr[data-job]")
    return str(row.find_elements(By.TAG_NAME, "td")[3].text)


def test_demo__a_new_user_signs_in_launches_and_sees_the_job_spend_and_pools(tmp_path) -> None:
    from selenium.webdriver.common.by import By

    env = {"RATECARD_RUN_WATCHER": "true"}
    with serve(tmp_path, env, args=("--demo",)) as (base, log), chromium(tmp_path / "p") as driver:
        key, file_id = printed(log.read_text())
        sign_in(driver, base, key, path="/ui/jobs")
        form = driver.find_element(By.ID, "launch-form")
        form.find_element(By.NAME, "training_file").send_keys(file_id)
        form.find_element(By.NAME, "team").send_keys("demo")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, lambda d: "team=demo" in d.current_url)

        deadline = time.monotonic() + 60
        while job_status(driver) != "succeeded" and time.monotonic() < deadline:
            time.sleep(2)
            driver.refresh()
        assert job_status(driver) == "succeeded"

        driver.get(f"{base}/ui/spend?group_by=team")
        [(estimated, actual)] = table_rows(driver, "spend-table").values()
        assert actual > 0 and estimated == 0  # finished: the actual cost replaces the estimate
        assert bars(driver, "spend-chart-training")[("demo", "actual")] == actual
        driver.get(f"{base}/ui/pools")
        assert urlparse(driver.current_url).path == "/ui/pools"
        assert driver.find_elements(By.CSS_SELECTOR, "svg#pools-chart")
        assert driver.find_elements(By.ID, "pools-table")
