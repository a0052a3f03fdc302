"""compose.yaml carries no secret of its own: PostgreSQL's password comes from the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Z_][A-Z0-9_]*):\?[^}]+\}$")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def environments() -> dict[str, dict[str, str]]:
    return {
        name: {k: str(v) for k, v in (service.get("environment") or {}).items()}
        for name, service in compose()["services"].items()
    }


def test_compose__postgres_password_is_a_required_variable_not_a_literal():
    password = environments()["postgres"]["POSTGRES_PASSWORD"]
    match = REQUIRED_VARIABLE.match(password)
    assert match and match["name"] == "POSTGRES_PASSWORD", password


def test_compose__no_service_carries_a_literal_password():
    for service, env in environments().items():
        for key, value in env.items():
            if "PASSWORD" in key.upper():
                assert REQUIRED_VARIABLE.match(value), f"{service}.{key} is a literal: {value!r}"
            if "://" in value:
                assert urlsplit(value).password is None, f"{service}.{key} embeds a password"


def test_compose__the_ratecard_processes_get_the_same_password_as_postgres():
    envs = environments()
    for service in ("api", "watcher"):
        assert envs[service]["PGPASSWORD"] == envs["postgres"]["POSTGRES_PASSWORD"], service
