"""The alerts modules import each other in one direction only: no circle, not even a lazy one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import service.alerts

PACKAGE = "service.alerts"
FOLDER = Path(service.alerts.__file__).parent
MODULES = sorted(f"{PACKAGE}.{p.stem}" for p in FOLDER.glob("*.py") if p.stem != "__init__")


def imported_alerts_modules(module: str) -> set[str]:
    """Every service.alerts module named by any import in the file, at any depth of the code
    (inside functions and `if TYPE_CHECKING:` blocks too: a lazy import is still a circle)."""
    tree = ast.parse((FOLDER / (module.rsplit(".", 1)[1] + ".py")).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph[node]):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return None


def test_imports__alerts_modules_form_no_import_circle():
    graph = {module: imported_alerts_modules(module) for module in MODULES}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_imports__events_and_fanout_do_not_import_each_other_either_way():
    assert "service.alerts.fanout" in imported_alerts_modules("service.alerts.events")
    assert "service.alerts.events" not in imported_alerts_modules("service.alerts.fanout")


@pytest.mark.parametrize("module", ["service.alerts.events", "service.alerts.fanout"])
def test_imports__each_module_imports_first_in_a_fresh_interpreter(module: str):
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
