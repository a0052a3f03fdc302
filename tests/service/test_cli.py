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


HUGE = "3" + "0" * 27  # 28 digits
TRAIN = ("estimate", "train", "--model", "gpt-3.5-turbo", "--as-of", "2024-01-01")
TRAIN_TOKENS = (*TRAIN, "--tokens", "1000")
INFER = ("estimate", "inference", "--model", "gpt-4o", "--as-of", "2024-06-01")


def _workload(prompt="1000", completion="100", per_day="1000"):
    return (
        *("--prompt-tokens", prompt, "--completion-tokens", completion),
        *("--requests-per-day", per_day),
    )


HOSTILE: list[tuple[str, ...]] = [
    # huge, negative and not-quite numbers
    (*TRAIN, "--tokens", HUGE),
    (*TRAIN, "--tokens", str(10**12 + 1)),
    (*TRAIN, "--tokens", "9" * 5000),
    (*TRAIN, "--tokens", "-5"),
    *[(*TRAIN, "--tokens", v) for v in ("NaN", "inf", "-inf", "1e30", "", " ", "\0", "٣", "1.5")],
    (*TRAIN_TOKENS, "--examples", "0"),
    (*TRAIN_TOKENS, "--examples", HUGE),
    *[(*TRAIN_TOKENS, "--epochs", v) for v in ("0", "-1", HUGE, "NaN", "", "1e30")],
    (*INFER, *_workload(prompt="1" + "0" * 27)),
    (*INFER, *_workload(completion=HUGE)),
    (*INFER, *_workload(per_day="1" + "0" * 11)),
    (*INFER, *_workload(per_day="-1")),
    (*INFER, *_workload(prompt="nan")),
    # contract prices
    *[
        (*TRAIN_TOKENS, "--override", f"usd_per_1m_training_tokens={v}")
        for v in ("NaN", "inf", "-1", "1e30", "", "\0", "9" * 40, "sNaN", "0x10")
    ],
    (*TRAIN_TOKENS, "--override", "no_such_field=1"),
    (*TRAIN_TOKENS, "--override", "no-equals-sign"),
    (*INFER, *_workload(), "--override", "usd_per_1m_input_tokens=Infinity"),
    # models
    *[
        ("estimate", "train", "--tokens", "10", "--model", m)
        for m in ("", "\0", "gpt-☃", "x" * 10_000, "no-such-model", "ft:", "ft:::::", "\u202e")
    ],
    (*INFER, *_workload(), "--vs", "gpt-4,no-such-model"),
    (*INFER, *_workload(), "--vs", ",".join(["gpt-4"] * 25)),
    ("prices", "show", "--model", "no-such-model"),
    ("prices", "show", "--version", "1999-01-01"),
    ("prices", "diff", "nope", "2023-08-22"),
    # dates
    *[(*TRAIN_TOKENS[:4], "--tokens", "10", "--as-of", d) for d in ("yesterday", "2024-13-01")],
    *[(*TRAIN_TOKENS[:4], "--tokens", "10", "--as-of", d) for d in ("12345", "1e9", "", "\0")],
    (*TRAIN_TOKENS[:4], "--tokens", "10", "--as-of", "0001-01-01"),
    ("prices", "show", "--as-of", "1900-01-01"),
    ("prices", "show", "--as-of", "2024-02-30"),
    # files
    ("estimate", "train", "/no/such/file.jsonl", "--model", "gpt-3.5-turbo"),
    ("estimate", "train", "file\0name", "--model", "gpt-3.5-turbo"),
    ("estimate", "train", "--model", "gpt-3.5-turbo"),  # neither file nor tokens
    ("estimate", "train", str(TOY), "--tokens", "5", "--model", "gpt-3.5-turbo"),  # both
    ("estimate", "train", str(TOY), "--model", "gpt-4o", "--as-of", "2020-01-01"),
    # methods, hours, tiers and cached tokens
    *[
        ("estimate", "train", "--model", "o4-mini", "--method", "reinforcement", *hours)
        for hours in (
            (),
            ("--hours", "0"),
            ("--hours", "-1"),
            ("--hours", "NaN"),
            ("--hours", "1e3"),
            ("--hours", "99999"),
            ("--hours", "3", "--hours-max", "2"),
            ("--hours", "3", "--tokens", "10"),
        )
    ],
    (*TRAIN_TOKENS, "--hours", "3"),
    (*TRAIN_TOKENS, "--method", "unsupervised"),
    (*INFER, *_workload(), "--tier", "turbo"),
    (*INFER, *_workload(), "--cached-tokens", "900", "--cache-write-tokens", "200"),
    (*INFER, *_workload(), "--cached-tokens", "-1"),
    ("estimate", "inference", "--model", "gpt-6.2-sol", *_workload(), "--tier", "flex"),
    # commands and options
    (),
    ("estimate",),
    ("no-such-command",),
    ("prices", "list", "--no-such-option"),
    ("serve", "--port", "abc"),
    ("serve", "--port", "70000"),
    ("serve", "--port", "-1"),
    ("keys", "create", "--name", "x"),
    ("keys", "create", "--name", "\0", "--scopes", "admin"),
    ("keys", "create", "--name", "ops", "--scopes", ""),
    ("keys", "create", "--name", "ops", "--scopes", "root,admin"),
    ("keys", "create", "--name", "ü" * 300, "--scopes", "admin"),
]


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from service.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusals
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _assert_refused(code: int, err: str) -> None:
    assert "Traceback" not in err
    assert code in (2, 3), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.isprintable() or err[:-1].isprintable(), repr(err)


@pytest.mark.parametrize("argv", HOSTILE, ids=[repr(a)[:80] for a in HOSTILE])
def test_cli__hostile_arguments_are_refused_in_one_line_without_traceback(
    argv, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("RATECARD_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    _assert_refused(*_main(list(argv), capsys))


@pytest.mark.parametrize("kind", ["directory", "binary", "empty", "unreadable"])
def test_cli__hostile_training_files_are_refused_in_one_line(kind, tmp_path, capsys):
    path = tmp_path / "train.jsonl"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 64)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("{}\n")
        path.chmod(0)
    code, err = _main(["estimate", "train", str(path), "--model", "gpt-3.5-turbo"], capsys)
    if kind == "unreadable" and code == 0:
        pytest.skip("running as root: the file is readable anyway")
    if "has format errors" in err:  # the one multi-line answer: the list of what to fix
        headline, *problems = err.splitlines()
        _assert_refused(code, headline + "\n")
        assert problems and all(p.startswith("  - ") for p in problems)
    else:
        _assert_refused(code, err)


@pytest.mark.parametrize(
    "argv",
    [
        (*TRAIN, "--tokens", HUGE),
        (*INFER, *_workload(prompt="1" + "0" * 27)),
        (*TRAIN_TOKENS, "--override", "usd_per_1m_training_tokens=NaN"),
        (*TRAIN_TOKENS[:4], "--tokens", "10", "--as-of", "20240"),
        ("estimate", "train", "/", "--model", "gpt-3.5-turbo"),
        ("serve", "--port", "70000"),
    ],
)
def test_cli__hostile_arguments_in_a_real_process(argv):
    r = ratecard(*argv)
    _assert_refused(r.returncode, r.stderr)


def test_cli__limits_are_the_rest_apis_and_the_message_says_so(capsys):
    from service.estimates.schemas import MAX_TOKENS

    code, err = _main([*TRAIN, "--tokens", str(MAX_TOKENS + 1)], capsys)
    assert code == 2 and "--tokens" in err and str(MAX_TOKENS) in err
    code, _ = _main([*TRAIN, "--tokens", str(MAX_TOKENS), "--epochs", "1", "--json"], capsys)
    assert code == 0


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from service.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli__inference_tier_and_cached_tokens_json_carries_the_new_fields(capsys):
    # gpt-6-luna fast (= priority): 0.20 input, 0.02 cached, 1.00 output; cache write 2x 0.125.
    code, out, err = _run(
        [
            *("estimate", "inference", "--model", "gpt-6-luna", "--as-of", "2026-12-06"),
            *_workload(prompt="2000", completion="300"),
            *("--tier", "fast", "--cached-tokens", "800", "--cache-write-tokens", "200"),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    body = json.loads(out)
    assert (body["tier"], body["long_context"], body["warnings"]) == ("priority", False, [])
    assert (body["cached_prompt_tokens"], body["cache_write_tokens"]) == (800, 200)
    assert (body["usd_per_1m_cached_input_tokens"], body["usd_per_1m_cache_write_tokens"]) == (
        "0.02",
        "0.25",
    )
    # (1,000 x 0.20 + 800 x 0.02 + 200 x 0.25 + 300 x 1.00) / 1M
    assert body["cost_per_request_usd"] == "0.000566"


def test_cli__inference_prints_lifecycle_warnings(capsys):
    code, out, _ = _run(
        [
            *("estimate", "inference", "--model", "ft:gpt-4o-mini-2024-07-18:acme::x"),
            *("--as-of", "2026-12-06", *_workload()),
        ],
        capsys,
    )
    assert code == 0
    assert "warning: ft:gpt-4o-mini-2024-07-18:acme::x shuts down (with its base model) on " in out
    assert "2027-01-14, 39 days from 2026-12-06; OpenAI recommends gpt-6-luna" in out


def test_cli__train_reinforcement_hours_range(capsys):
    argv = [
        *("estimate", "train", "--model", "o4-mini", "--as-of", "2025-06-01"),
        *("--method", "reinforcement", "--hours", "2.5", "--hours-max", "4"),
    ]
    code, out, err = _run([*argv, "--json"], capsys)
    assert code == 0, err
    body = json.loads(out)
    assert (body["method"], body["training_hours"], body["training_hours_max"]) == (
        "reinforcement",
        "2.5",
        "4",
    )
    assert (body["usd_per_training_hour"], body["cost_usd"], body["cost_usd_max"]) == (
        "100.00",
        "250.00",
        "400.00",
    )
    code, out, _ = _run(argv, capsys)
    assert "training hours    2.5 to 4 (your assumption)" in out
    assert "warning: the training duration is your assumption" in out


def test_cli__train_applies_promotions_and_warns_of_closed_fine_tuning(capsys):
    code, out, _ = _run(
        [
            *("estimate", "train", "--model", "gpt-4o-mini", "--tokens", "500000"),
            *("--epochs", "3", "--as-of", "2024-08-15", "--json"),
        ],
        capsys,
    )
    body = json.loads(out)
    assert (body["free_training_tokens"], body["cost_usd"], body["method"]) == (
        1_500_000,
        "0.00",
        "supervised",
    )
    assert body["promotion"]
    code, out, _ = _run(
        [
            *("estimate", "train", "--model", "davinci-002", "--tokens", "100000"),
            *("--as-of", "2026-12-06"),
        ],
        capsys,
    )
    assert code == 0
    assert "closed on 2024-10-28" in out and "  warning: " in out


def test_cli__train_preference_method(capsys):
    code, out, _ = _run(
        [
            *("estimate", "train", "--model", "gpt-4.1", "--tokens", "100000", "--epochs", "2"),
            *("--method", "preference", "--as-of", "2026-12-06", "--json"),
        ],
        capsys,
    )
    assert code == 0
    assert (json.loads(out)["method"], json.loads(out)["cost_usd"]) == ("preference", "5.00")
