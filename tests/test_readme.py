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


def test_readme__report_examples_name_no_fixed_year():
    # A fixed year turns into an empty report (or a future range) the year after it was written.
    assert not re.findall(r"(?:reports|estimates)[^\s\"]*(?:from|to)=\d{4}", README)
    assert not re.findall(r'"(?:from|to)": "\d{4}', README)


def test_readme__report_and_estimate_queries_answer_200_in_any_year(tmp_path):
    from datetime import date

    from tests.service.conftest import ADMIN_SECRET, build_app, client_for

    today = date.today()
    variables = {"$Y": str(today.year), "$M": today.replace(day=1).isoformat()}
    for block in re.findall(r"```sh\n(.+?)\n```", README, flags=re.DOTALL):
        for name in re.findall(r"\$[YM]\b", block):
            assert re.search(rf"\b{name[1:]}=\$\(date", block), f"{name} used but not set: {block}"
    paths = re.findall(r'\$API(/v1/(?:reports|estimates)[^" ]*)"', README)
    assert len(paths) >= 4
    app = build_app(f"sqlite:///{tmp_path / 'readme.db'}", tmp_path)
    with client_for(app, ADMIN_SECRET) as admin:
        for path in paths:
            for name, value in variables.items():
                path = path.replace(name, value)
            assert admin.get(path).status_code == 200, path


def test_readme__walkthrough_is_what_the_demo_prints():
    from service.jobs.demo import walkthrough

    block = re.findall(r"```sh\n(.+?)\n```", README, flags=re.DOTALL)[2]
    assert "ratecard serve --demo" in block
    assert block.endswith(walkthrough().rstrip("\n"))
