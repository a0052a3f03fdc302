"""Slack file downloads: the bot token travels only over https to Slack's own file hosts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.files import SlackFileError, download

SLACK_API = "https://slack.com/api/"


def refusing_transport() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be sent, yet one went to {request.url}")

    return httpx.MockTransport(handler)


async def fetch(url: str, tmp_path: Path, *, slack_api_url: str = SLACK_API) -> Path:
    file = {"id": "F1", "name": "train.jsonl", "size": 10, "url_private_download": url}
    async with httpx.AsyncClient(transport=refusing_transport()) as http:
        return await download(
            file,
            token="xoxb-secret",
            slack_api_url=slack_api_url,
            http=http,
            folder=tmp_path,
            max_bytes=1000,
        )


@pytest.mark.parametrize(
    "url",
    [
        "http://files.slack.com/files-pri/T1-F1/download/train.jsonl",
        "ftp://files.slack.com/train.jsonl",
    ],
)
async def test_download__a_slack_url_that_is_not_https_is_refused_before_sending_the_token(
    url: str, tmp_path: Path
) -> None:
    with pytest.raises(SlackFileError, match="not https"):
        await fetch(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_download__plain_http_to_a_configured_slack_api_off_loopback_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(SlackFileError, match="not https"):
        await fetch(
            "http://slack.internal/_files/F1/train.jsonl",
            tmp_path,
            slack_api_url="http://slack.internal/api/",
        )


async def test_download__plain_http_is_allowed_only_to_a_configured_slack_api_on_loopback(
    tmp_path: Path,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer xoxb-secret"
        return httpx.Response(200, content=b'{"x": 1}\n')

    file = {"id": "F1", "name": "t.jsonl", "url_private_download": "http://127.0.0.1:9/_files/F1"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        path = await download(
            file,
            token="xoxb-secret",
            slack_api_url="http://127.0.0.1:9/api/",
            http=http,
            folder=tmp_path,
            max_bytes=1000,
        )
    assert path.read_bytes() == b'{"x": 1}\n'
