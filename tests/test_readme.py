"""The README is what a user meets first: its commands and configuration reference must be true."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
CI = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()


def test_readme__opens_with_run_and_test_commands():
    blocks = re.findall(r"```sh\n(.+?)\n```", README, flags=re.DOTALL)
    run, test = blocks[0].strip(), blocks[1].strip()
    assert run.endswith("ratecard serve") and "pip install -e ." in run
    assert test.endswith(".venv/bin/pytest") and "[test]" in test


def test_ci__runs_exactly_the_readme_test_command():
    test = re.findall(r"```sh\n(.+?)\n```", README, flags=re.DOTALL)[1].strip()
    assert test in CI


def test_readme__documents_every_setting():
    for name, field in Settings.model_fields.items():
        assert f"RATECARD_{name.upper()}" in README, f"RATECARD_{name.upper()} is not in the README"
        assert field.description, f"{name} has no description"
