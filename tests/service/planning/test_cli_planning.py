"""`ratecard plan`: the same figures as the API, straight from the database."""

from __future__ import annotations

import csv
import io
import json

import pytest

from service.cli import main
from tests.service.planning.conftest import SQLITE_ONLY, PlanningEnv

OLD = "ft:gpt-3.5-turbo-0125:acme::old1"
MODEL = "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"


@pytest.fixture
def cli_env(env: PlanningEnv, database_url: str, monkeypatch: pytest.MonkeyPatch) -> PlanningEnv:
    monkeypatch.setenv("RATECARD_DATABASE_URL", database_url)
    monkeypatch.delenv("RATECARD_OPENAI_API_KEY", raising=False)
    return env


@SQLITE_ONLY
def test_plan_cli__list_and_show_match_the_api(
    cli_env: PlanningEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.usage(MODEL, 200, 100, n=4)
    cli_env.usage(OLD, 50, 10)

    assert main(["plan", "list", "--as-of", "2026-12-07", "--days", "1", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["model"], m["countdown"]["days_left"]) for m in listed["models"]] == [
        (OLD, 0),
        (MODEL, 38),
    ]

    args = ["plan", "show", MODEL, "--as-of", "2026-12-07", "--days", "1"]
    assert main([*args, "--to", "gpt-4o-mini", "--prompt-cut-pct", "90", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["scenario"], r["cost_per_month_usd"]) for r in rows] == [
        ("gpt-6-luna", "0.03"),
        ("gpt-4o-mini", "0.0432"),
    ]

    assert main([*args, "--prompt-cut-pct", "90"]) == 0
    text = capsys.readouterr().out
    assert "38 days left" in text and "gpt-6-luna" in text


@SQLITE_ONLY
def test_plan_cli__unknown_model_is_one_line_exit_2(
    cli_env: PlanningEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "show", "ft:gpt-4o-mini-2024-07-18:x::none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ratecard: ") and err.count("\n") == 1


@SQLITE_ONLY
def test_plan_cli__check_publishes_once(
    cli_env: PlanningEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.usage(OLD, 50, 10)
    assert main(["plan", "check", "--as-of", "2026-12-07"]) == 0
    assert main(["plan", "check", "--as-of", "2026-12-07"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "0 new countdown alert(s)" and out[0] != out[1]
