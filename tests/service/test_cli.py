"""The `ratecard` CLI as a user runs it: a real subprocess, stdout/stderr and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOY = Path(__file__).resolve().parents[2] / "pricing" / "data" / "sample_chat.jsonl"


def ratecard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli__train_tokens_json_contract():
    r = ratecard(
        "estimate",
        "train",
        "--tokens",
        "100000",
        "--epochs",
        "3",
        "--model",
        "gpt-3.5-turbo",
        "--as-of",
        "2023-09-01",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["cost_usd"] == "2.40"
    assert out["price_version"] == "2023-08-22"
    assert {
        "model",
        "price_version",
        "billing_tokens",
        "n_epochs",
        "charged_tokens",
        "usd_per_1m_training_tokens",
        "cost_usd",
        "warnings",
        "format_errors",
    } <= set(out)


def test_cli__train_file_reproduces_cookbook_numbers():
    r = ratecard(
        "estimate",
        "train",
        str(TOY),
        "--model",
        "gpt-3.5-turbo-0613",
        "--as-of",
        "2023-09-01",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["n_examples"], out["billing_tokens"], out["n_epochs"], out["charged_tokens"]) == (
        5,
        4306,
        20,
        86120,
    )
    assert out["format_errors"] == []


def test_cli__train_file_with_16k_cap():
    r = ratecard(
        "estimate",
        "train",
        str(TOY),
        "--model",
        "gpt-3.5-turbo-0125",
        "--as-of",
        "2024-03-01",
        "--json",
    )
    out = json.loads(r.stdout)
    assert (out["billing_tokens"], out["charged_tokens"]) == (8242, 164840)


def test_cli__format_errors_exit_nonzero_with_line_numbers(tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    )
    bad.write_text(
        "\n".join([good, "{not json", good, json.dumps({"messages": [{"role": "user"}]})]) + "\n"
    )
    r = ratecard(
        "estimate",
        "train",
        str(bad),
        "--model",
        "gpt-3.5-turbo-0125",
        "--as-of",
        "2024-03-01",
        "--json",
    )
    assert r.returncode != 0
    errors = {e["kind"]: e for e in json.loads(r.stdout)["format_errors"]}
    assert errors["invalid_json"]["lines"] == [2]
    assert 4 in errors["message_missing_key"]["lines"]


def test_cli__unknown_model_suggests_without_traceback():
    r = ratecard("estimate", "train", "--tokens", "10", "--model", "gpt-35-turbo")
    assert r.returncode != 0
    assert "Did you mean" in r.stderr and "gpt-3.5-turbo" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli__gpt4_training_needs_override_then_uses_it():
    gpt4_training = (
        *("estimate", "train", "--tokens", "1000000", "--epochs", "1"),
        *("--model", "gpt-4", "--as-of", "2024-06-01"),
    )
    r = ratecard(*gpt4_training)
    assert r.returncode != 0 and "override" in r.stderr
    r = ratecard(
        *gpt4_training,
        "--override",
        "usd_per_1m_training_tokens=90",
        "--json",
    )
    assert json.loads(r.stdout)["cost_usd"] == "90.00"


def test_cli__inference_json():
    r = ratecard(
        "estimate",
        "inference",
        "--model",
        "gpt-3.5-turbo",
        "--prompt-tokens",
        "1500",
        "--completion-tokens",
        "200",
        "--requests-per-day",
        "10000",
        "--as-of",
        "2023-09-01",
        "--json",
    )
    out = json.loads(r.stdout)
    assert (out["cost_per_request_usd"], out["cost_per_day_usd"], out["cost_per_month_usd"]) == (
        "0.00265",
        "26.50",
        "795.00",
    )
    assert out["price_version"] == "2023-08-22"


def test_cli__prices_list_show_diff():
    listed = json.loads(ratecard("prices", "list", "--json").stdout)["versions"]
    assert listed[0]["version"] == "2023-03-01"
    shown = json.loads(
        ratecard(
            "prices", "show", "--as-of", "2023-09-01", "--model", "gpt-3.5-turbo", "--json"
        ).stdout
    )
    assert shown["models"]["gpt-3.5-turbo-0613"]["usd_per_1m_training_tokens"] == "8.00"
    diff = json.loads(ratecard("prices", "diff", "2023-08-22", "2023-11-06", "--json").stdout)[
        "changes"
    ]
    assert {
        "model": "gpt-3.5-turbo-0613",
        "field": "usd_per_1m_ft_input_tokens",
        "old": "12.00",
        "new": "3.00",
    } in diff


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "train", "--model", "gpt-4o"],
        ["estimate", "train", "--tokens", "-5", "--model", "gpt-4o"],
        ["estimate", "train", "--tokens", "5", "--model", "gpt-4o-mini", "--as-of", "yesterday"],
    ],
)
def test_cli__bad_arguments_are_usage_errors(args):
    r = ratecard(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
