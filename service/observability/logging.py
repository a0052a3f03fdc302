"""Process logging: text as before, or one JSON object per line (``RATECARD_LOG_FORMAT=json``).

Either way each record gets the current request id (``request_id``, None outside a request) from
a filter on the handler, so lines from any library logged while a request is handled carry it.

Secrets: the service never passes a key, token or password to a logger (keys are accepted only
in the Authorization header, which is never logged; settings hold them as SecretStr, whose str()
is masked). As a second line of defence every formatted line has bearer credentials and
ratecard/OpenAI/Slack key shapes masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from service.observability.request_id import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

_SECRETS = re.compile(
    r"(?i)(bearer\s+)[^\s\"',;]+"
    r"|\b(?:rc|sk|xox[abprs]|xapp)[-_][A-Za-z0-9_\-]{8,}"
)


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id``; on a handler, so records from every logger pass it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, and
    the traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def make_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else RedactingFormatter(TEXT_FORMAT)
    )
    return handler


def configure_logging(*, log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one in ``log_format`` at ``level``.

    With json, uvicorn's own loggers (access and error lines) are routed through it too, so
    every line on stderr is JSON.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(log_format, stream))
    root.setLevel(level.upper())
    if log_format == "json":
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            uvicorn_logger = logging.getLogger(name)
            for handler in list(uvicorn_logger.handlers):
                uvicorn_logger.removeHandler(handler)
            uvicorn_logger.propagate = True


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """uvicorn.run's keyword: with json, uvicorn must not install its own text handlers."""
    return {"log_config": None} if log_format == "json" else {}
