"""/docs and /redoc work on a host with no internet: every file they load comes from the service."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.service.conftest import build_app, client_for

# src/href attributes and url: '...' (Swagger UI's document) in the pages.
REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.fixture
def anon(sqlite_url, tmp_path) -> Iterator[httpx.Client]:
    with client_for(build_app(sqlite_url, tmp_path), None) as client:
        yield client


def references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs__pages_load_everything_from_the_service_itself(anon, page):
    response = anon.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", response.text), "the page names another host"
    found = references(response.text)
    assert len(found) >= 3, found  # the script, the favicon, the OpenAPI document (and CSS)
    for reference in found:
        assert not urlsplit(reference).netloc, reference
        asset = anon.get(urljoin(page, reference))
        assert asset.status_code == 200, reference
        assert asset.content, reference


def test_docs__swagger_ui_loads_its_script_and_stylesheet(anon):
    found = references(anon.get("/docs").text)
    script = next(r for r in found if r.endswith(".js"))
    stylesheet = next(r for r in found if r.endswith(".css"))
    assert "SwaggerUIBundle" in anon.get(script).text
    assert anon.get(stylesheet).headers["content-type"].startswith("text/css")


def test_docs__redoc_loads_its_script(anon):
    found = references(anon.get("/redoc").text)
    script = next(r for r in found if r.endswith(".js"))
    assert "redoc" in anon.get(script).text.lower()


def test_docs__links_keep_the_proxy_prefix(sqlite_url, tmp_path):
    from starlette.testclient import TestClient

    app = build_app(sqlite_url, tmp_path)
    with TestClient(app, root_path="/ratecard") as client:
        found = references(client.get("/docs").text)
    assert found and all(r.startswith("/ratecard/") for r in found), found
