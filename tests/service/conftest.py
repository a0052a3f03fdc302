from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.auth.service import create_key
from service.db import session_scope
from service.settings import get_settings

ADMIN_SECRET = "rc_test_admin_key_0123456789abcdef"


@dataclass
class Api:
    app: FastAPI
    admin: httpx.Client
    anon: httpx.Client

    def client_with(self, *scopes: str, name: str | None = None) -> httpx.Client:
        with session_scope(self.app.state.engine) as session:
            _, secret = create_key(session, name=name or "key-" + "-".join(scopes), scopes=scopes)
        return client_for(self.app, secret)


def client_for(app: FastAPI, secret: str | None) -> httpx.Client:
    from starlette.testclient import TestClient

    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return TestClient(app, headers=headers, raise_server_exceptions=False)


def build_app(
    database_url: str, tmp_path: Path, *, admin_key: bool = True, **overrides: Any
) -> FastAPI:
    """The app on a test database, without background services; with the admin key unless
    another replica on the same database made it."""
    settings: dict[str, Any] = {"upload_dir": tmp_path / "uploads", "run_watcher": False}
    app = create_app(
        get_settings(database_url=database_url, **{**settings, **overrides}),
        run_background=False,
    )
    if admin_key:
        with session_scope(app.state.engine) as session:
            create_key(session, name="admin", scopes=["admin"], secret=ADMIN_SECRET)
    return app


@pytest.fixture
def api(database_url: str, tmp_path) -> Iterator[Api]:
    app = build_app(database_url, tmp_path)
    admin = client_for(app, ADMIN_SECRET)
    anon = client_for(app, None)
    with admin, anon:
        yield Api(app, admin, anon)
