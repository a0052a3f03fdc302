from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.bot.harness import SlackStack, report_ack_times, running_stack


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Any) -> Iterator[SlackStack]:
    """The bot is a pure REST client: its tests run on SQLite; tests/e2e covers PostgreSQL."""
    with running_stack(sqlite_url, tmp_path) as running:
        yield running


def pytest_terminal_summary(terminalreporter: Any) -> None:
    report_ack_times(terminalreporter.write_line)
