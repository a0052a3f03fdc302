"""Training files shared in Slack: find the one meant, stream it to a temporary file.

The bot token is sent only to the download URL Slack itself returned for the file (files.info /
files.list), and only if that URL is on Slack's file hosts (or the configured Slack API host, which
is how tests point at a loopback fake). A link typed by a user is used only to read the file id.
Only over https: the token and the file would otherwise cross the network in clear. The one
exception is a configured Slack API on a loopback address (the test fakes), where nothing leaves
the machine.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.parsing import SLACK_FILE_HOSTS, file_id_from_ref

log = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".json", ".txt", ".ndjson")
CHUNK = 1024 * 1024


class SlackFileError(Exception):
    """A file the user meant cannot be used; the message says what to do."""


def _file_id(ref: str) -> str:
    file_id = file_id_from_ref(ref)
    if file_id is None:
        raise SlackFileError(
            f"{ref} is not a Slack file link; share the file here or give its id (F...)."
        )
    return file_id


def looks_like_jsonl(file: dict[str, Any]) -> bool:
    name = str(file.get("name") or file.get("title") or "").lower()
    return name.endswith(JSONL_SUFFIXES) or file.get("filetype") in ("jsonl", "json")


async def find_file(
    web: AsyncWebClient, *, ref: str | None, channel_id: str, user_id: str
) -> dict[str, Any]:
    """The file named by `ref`, or the newest JSONL file the user shared in the channel."""
    try:
        if ref is not None:
            response = await web.files_info(file=_file_id(ref))
            file: dict[str, Any] = response["file"]
            return file
        response = await web.files_list(channel=channel_id, user=user_id, count=20)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ("file_not_found", "file_deleted"):
            raise SlackFileError(
                "I can't see that file; it may be deleted or in a channel I'm not in."
            ) from exc
        raise
    files: list[dict[str, Any]] = sorted(
        response.get("files", []), key=lambda f: f.get("created", 0), reverse=True
    )
    for candidate in files:
        if looks_like_jsonl(candidate):
            return dict(candidate)
    raise SlackFileError(
        "I can't find a JSONL file you shared in this channel. Drag the file in, then run "
        "`/estimate train <model>` again (or add `file=<link to the file>`)."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _download_url(file: dict[str, Any], slack_api_url: str) -> str:
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    api_host = (urlsplit(slack_api_url).hostname or "").lower()
    name = file.get("name", "that file")
    if not url or not (
        host == api_host or any(host == h or host.endswith("." + h) for h in SLACK_FILE_HOSTS)
    ):
        raise SlackFileError(f"{name} has no downloadable copy in Slack.")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and host == api_host and _is_loopback(host)
    ):
        raise SlackFileError(
            f"Slack offered {name} over {parts.scheme or 'an unknown scheme'}, not https; "
            "I only download files (with the bot token) over https."
        )
    return url


async def download(
    file: dict[str, Any],
    *,
    token: str,
    slack_api_url: str,
    http: httpx.AsyncClient,
    folder: Path | None,
    max_bytes: int,
) -> Path:
    """Stream a Slack file to a named temporary file (the caller deletes it), at most max_bytes."""
    name = str(file.get("name") or "file")
    size = file.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise SlackFileError(
            f"{name} is {size:,} bytes; estimates take files up to {max_bytes:,} bytes."
        )
    url = _download_url(file, slack_api_url)
    target = folder or Path(tempfile.gettempdir())
    target.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="ratecard-slack-", suffix=".jsonl", dir=target)
    path = Path(tmp)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async with http.stream(
                "GET", url, headers={"Authorization": f"Bearer {token}"}, follow_redirects=True
            ) as response:
                if response.status_code != 200:
                    raise SlackFileError(
                        f"Slack would not let me download {name} (HTTP {response.status_code})."
                    )
                # Without files:read Slack answers 200 with its sign-in page instead of the file.
                if response.headers.get("content-type", "").startswith("text/html"):
                    raise SlackFileError(
                        f"Slack sent a sign-in page instead of {name}; the app needs the "
                        "files:read scope."
                    )
                async for chunk in response.aiter_bytes(CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise SlackFileError(
                            f"{name} is larger than {max_bytes:,} bytes, the limit for estimates."
                        )
                    out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if written == 0:
        path.unlink(missing_ok=True)
        raise SlackFileError(f"{name} is empty.")
    log.info("downloaded Slack file %s (%s bytes)", file.get("id"), written)
    return path
