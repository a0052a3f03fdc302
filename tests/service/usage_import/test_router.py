"""POST /v1/usage/imports runs an import now (admin); GET lists the last runs (read)."""

from __future__ import annotations

import logging
import time

import pytest

from service.auth.service import create_key
from service.db import session_scope
from service.usage_import.scheduler import importer_factory
from tests.service.conftest import ADMIN_SECRET, build_app, client_for
from tests.service.openai.conftest import FakeOpenAIServer
from tests.service.usage_import.conftest import ADMIN_KEY, Importer, settings_for
from tests.service.usage_import.support import USAGE, PageFaults


def _read_client(importer: Importer):
    with session_scope(importer.app.state.engine) as session:
        _, secret = create_key(session, name="finance", scopes=["read"])
    return client_for(importer.app, secret)


def test_imports__run_now_and_list_the_runs(importer: Importer, fake: PageFaults):
    fake.add_completions_usage(
        at=time.time() - 7200, model="gpt-4o-mini", input_tokens=10, output_tokens=2
    )

    r = importer.admin.post("/v1/usage/imports")

    assert r.status_code == 200, r.text
    run = r.json()
    assert run["outcome"] == "ok" and run["trigger"] == "manual"
    assert run["models"] == ["gpt-4o-mini"] and run["rows"] == 1
    assert fake.request_counts[USAGE] >= 2  # the hour backfill and the last day in minutes
    with _read_client(importer) as reader:
        listed = reader.get("/v1/usage/imports").json()
    assert listed["configured"] is True and listed["setup_error"] is None
    assert listed["imported_through"] == run["windows"][-1]["end"].replace("+00:00", "Z")
    assert [r["id"] for r in listed["runs"]] == [run["id"]]
    assert listed["runs"][0]["windows"] == run["windows"]


def test_imports__scopes(importer: Importer, fake: PageFaults):
    with _read_client(importer) as reader, client_for(importer.app, None) as anon:
        assert reader.post("/v1/usage/imports").status_code == 403
        assert anon.get("/v1/usage/imports").status_code == 401
        assert reader.get("/v1/usage/imports").status_code == 200
    assert fake.request_counts[USAGE] == 0


def test_imports__a_refused_admin_key_is_a_setup_error_reported_once(
    importer: Importer, fake: PageFaults, caplog: pytest.LogCaptureFixture
):
    fake.api_key = "sk-admin-a-different-one"
    caplog.set_level(logging.WARNING, logger="service.usage_import")

    run = importer.admin.post("/v1/usage/imports").json()

    assert run["outcome"] == "setup_error"
    assert "RATECARD_OPENAI_ADMIN_KEY" in run["errors"][0]
    assert fake.request_counts[USAGE] == 1  # not retried
    assert ADMIN_KEY not in str(run) and ADMIN_KEY not in caplog.text
    assert len([r for r in caplog.records if "setup error" in r.getMessage()]) == 1
    listed = importer.admin.get("/v1/usage/imports").json()
    assert listed["runs"][0]["outcome"] == "setup_error"


def test_imports__without_an_admin_key_nothing_runs_and_the_status_says_why(
    database_url: str, tmp_path, fake_openai_server: FakeOpenAIServer, fake: PageFaults
):
    app = build_app(
        database_url, tmp_path, **settings_for(fake_openai_server, openai_admin_key=None)
    )
    assert importer_factory(app) is None
    with client_for(app, ADMIN_SECRET) as admin:
        run = admin.post("/v1/usage/imports").json()
        status = admin.get("/v1/usage/imports").json()
    assert run["outcome"] == "not_configured" and run["windows"] == []
    assert status["configured"] is False and status["imported_through"] is None
    assert "RATECARD_OPENAI_ADMIN_KEY" in status["setup_error"]
    assert fake.request_counts[USAGE] == 0
    app.state.engine.dispose()


def test_importer__one_replica_imports_at_a_time(
    importer: Importer, database_url: str, tmp_path, fake_openai_server, fake: PageFaults
):
    other_app = build_app(
        database_url, tmp_path, admin_key=False, **settings_for(fake_openai_server)
    )
    first, second = importer_factory(importer.app), importer_factory(other_app)
    assert first is not None and second is not None

    ran = first.tick()
    asked = fake.request_counts[USAGE]
    skipped = second.tick()

    assert ran is not None and ran["outcome"] == "ok"
    assert skipped is None and fake.request_counts[USAGE] == asked
    assert first.tick() is not None  # the holder renews and runs again

    first.release_lease()  # a graceful stop hands over at once
    assert second.tick() is not None
    assert first.tick() is None
    other_app.state.engine.dispose()


def test_importer__serve_starts_it_with_an_admin_key_and_it_imports_at_once(
    importer: Importer, fake: PageFaults
):
    scheduled = importer_factory(importer.app)
    assert scheduled is not None
    scheduled.start()
    try:
        deadline = time.monotonic() + 20
        runs: list = []
        while not runs and time.monotonic() < deadline:
            time.sleep(0.05)
            runs = importer.admin.get("/v1/usage/imports").json()["runs"]
    finally:
        scheduled.stop()
    assert [r["trigger"] for r in runs] == ["schedule"] and runs[0]["outcome"] == "ok"
