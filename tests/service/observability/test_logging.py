"""RATECARD_LOG_FORMAT=json: one JSON object per line, each carrying the request's id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from service.observability.logging import make_handler, redact
from tests.service.test_serve import serve


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the root logger writes, in the json format, while the test runs."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_logging__lines_written_while_handling_a_request_carry_its_id(api, json_log):
    response = api.admin.post(
        "/v1/keys",
        json={"name": "finance", "scopes": ["read"]},
        headers={"X-Request-ID": "req-logged-1"},
    )
    assert response.status_code == 201, response.text
    created = [e for e in lines(json_log) if "created API key" in str(e["message"])]
    assert len(created) == 1
    entry = created[0]
    assert entry["request_id"] == "req-logged-1"
    assert entry["level"] == "INFO" and entry["logger"] == "service.auth.service"
    assert str(entry["time"]).endswith("+00:00")
    # The key is shown once, to the caller; never to the log.
    assert response.json()["secret"] not in json_log.getvalue()


def test_logging__lines_outside_a_request_have_no_id(json_log):
    logging.getLogger("service.test").warning("between requests %s", 1)
    assert lines(json_log)[-1]["request_id"] is None
    assert lines(json_log)[-1]["message"] == "between requests 1"


def test_logging__a_traceback_stays_inside_its_json_line(json_log):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("service.test").exception("failed")
    entry = lines(json_log)[-1]
    assert entry["message"] == "failed" and "ValueError: boom" in str(entry["exception"])


def test_logging__credentials_are_masked_if_a_message_ever_holds_one():
    text = (
        "Authorization: Bearer rc_abcdef0123456789abcdef "
        "sk-proj-ABCDEF0123456789 xoxb-1234-5678-abcdefgh"
    )
    masked = redact(text)
    assert "rc_abcdef" not in masked and "sk-proj" not in masked and "xoxb-1234" not in masked
    assert masked.startswith("Authorization: Bearer [redacted]")


@pytest.mark.slow
def test_logging__serve_writes_only_json_lines_with_the_request_id(tmp_path):
    secret = "rc_" + "5e7b1d2468ace0bd1357f9e2c43f9a0c" + "8a6b0d2f4e1c3a5978f6e4d2c0b1a397"
    env = {"RATECARD_ADMIN_API_KEY": secret, "RATECARD_LOG_FORMAT": "json"}
    with serve(tmp_path, env) as (base, log):
        headers = {"Authorization": f"Bearer {secret}", "X-Request-ID": "from-the-proxy-7"}
        response = httpx.get(f"{base}/v1/keys", headers=headers)
        assert response.headers["X-Request-ID"] == "from-the-proxy-7"
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert any(e["request_id"] == "from-the-proxy-7" and "/v1/keys" in e["message"] for e in access)
    assert secret not in log.read_text()
