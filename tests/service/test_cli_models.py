"""`ratecard models` and `ratecard prices check`, run as the user runs them (in-process main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

CHANGE_SET = """
version = "2026-12-20"
effective_date = 2026-12-20
source = "https://openai.com/api/pricing/"
notes = "gpt-6-luna input cut"

[changes."gpt-6-luna"]
usd_per_1m_input_tokens = "0.08"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models__lists_every_model_with_state_shutdown_days_left_and_replacement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "models", "--as-of", "2026-12-06", "--json")

    assert code == 0
    data = json.loads(out)
    assert data["fine_tuning_closes"] == "2027-01-06"
    by_id = {m["id"]: m for m in data["models"]}
    mini = by_id["gpt-4o-mini-2024-07-18"]
    assert (mini["state"], mini["shutdown_date"], mini["days_left"], mini["replacement"]) == (
        "deprecated",
        "2027-01-14",
        39,
        "gpt-6-luna",
    )
    assert by_id["davinci-002"]["state"] == "shut_down"
    assert by_id["davinci-002"]["fine_tuning"][0]["accepted"] is False
    assert "gpt-6-luna" in by_id  # every catalogue model, the new ones included


def test_models__before_an_announcement_the_shutdown_is_not_known(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "models", "--as-of", "2026-06-01", "--name", "gpt-4o-mini")

    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("gpt-4o-mini"))
    assert "available" in line and "2027-01-14" not in line


def test_models__a_fine_tuned_name_shows_its_base_dates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "ft:gpt-3.5-turbo-0613:acme::abc123"
    code, out, _ = run(capsys, "models", "--as-of", "2026-12-06", "--name", name, "--json")

    assert code == 0
    model = json.loads(out)["models"][0]
    # The base shut down in 2024; its fine-tunes went with the 2026-10-23 notice.
    assert (model["fine_tuned"], model["state"], model["shutdown_date"]) == (
        True,
        "shut_down",
        "2026-10-23",
    )


def test_models__unknown_name_is_one_line_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "--name", "gpt-9-nonexistent")

    assert code == 3 and len(err.strip().splitlines()) == 1


def test_prices_check__a_change_set_is_valid_and_its_diff_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "2026-12-20.toml"
    path.write_text(CHANGE_SET)

    code, out, _ = run(capsys, "prices", "check", str(path))

    assert code == 0
    assert "valid price version 2026-12-20" in out and "1 change(s) against 2026-12-01" in out
    assert "gpt-6-luna" in out and "0.10 -> 0.08" in out


def test_prices_check__json_names_the_previous_version_and_the_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "2026-12-20.toml"
    path.write_text(CHANGE_SET)

    code, out, _ = run(capsys, "prices", "check", str(path), "--json")

    assert code == 0
    data = json.loads(out)
    assert data["previous"] == "2026-12-01"
    assert data["changes"] == [
        {"model": "gpt-6-luna", "field": "usd_per_1m_input_tokens", "old": "0.10", "new": "0.08"}
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CHANGE_SET.replace("2026-12-20", "2026-01-01"), "append-only"),
        (CHANGE_SET.replace('"gpt-6-luna"', '"gpt-9"'), "not in the catalogue"),
        (CHANGE_SET.replace("usd_per_1m_input_tokens", "usd_per_1m_inptu_tokens"), "unknown"),
        ("version = [", "not valid TOML"),
    ],
)
def test_prices_check__invalid_data_is_one_line_and_exit_3(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.toml"
    path.write_text(text)

    code, out, err = run(capsys, "prices", "check", str(path))

    assert code == 3 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_estimate_train__preference_file_is_checked_as_pairs_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = {
        "input": {"messages": [{"role": "user", "content": "Capital of France?"}]},
        "preferred_output": [{"role": "assistant", "content": "Paris."}],
        "non_preferred_output": [{"role": "assistant", "content": "Lyon."}],
    }
    broken = {**pair, "non_preferred_output": []}
    path = tmp_path / "dpo.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in [pair] * 10 + [broken]) + "\n")
    args = ("estimate", "train", str(path), "--model", "gpt-4.1-2025-04-14", "--json")

    code, out, _ = run(capsys, *args, "--as-of", "2026-06-01", "--method", "preference")

    assert code == 3
    problem = json.loads(out)["format_errors"][0]
    assert problem["kind"] == "missing_preference_outputs" and problem["lines"] == [11]

    path.write_text("\n".join(json.dumps(e) for e in [pair] * 10) + "\n")
    code, out, _ = run(capsys, *args, "--as-of", "2026-06-01", "--method", "preference")
    assert code == 0
    result = json.loads(out)
    assert result["method"] == "preference" and result["n_examples"] == 10
    assert any("ratecard's assumption" in w for w in result["warnings"])


def test_estimate_train__reinforcement_is_priced_by_the_hours_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ("estimate", "train", "--model", "o4-mini-2025-04-16", "--method", "reinforcement")

    code, _, err = run(capsys, *base, "--as-of", "2025-09-01")
    assert code == 2 and "training_hours" in err

    code, out, _ = run(capsys, *base, "--as-of", "2025-09-01", "--hours", "2.5", "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["cost_usd"], result["usd_per_training_hour"]) == ("250.00", "100.00")


def test_estimate_train__warns_when_openai_no_longer_accepts_the_job(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        *("estimate", "train", "--model", "davinci-002", "--tokens", "1000"),
        *("--as-of", "2025-01-10", "--json"),
    )

    assert code == 0
    warnings = json.loads(out)["warnings"]
    assert any("closed on 2024-10-28" in w for w in warnings)
