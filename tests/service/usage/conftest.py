"""Usage tests run the real app over HTTP with a fixed clock injected through the router's clock
dependency (production reads the real time there)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.usage.router import current_time
from tests.service.conftest import Api
from tests.service.usage.support import Clock, UsageApi


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def usage(api: Api, clock: Clock) -> Iterator[UsageApi]:
    api.app.dependency_overrides[current_time] = lambda: clock.now
    try:
        yield UsageApi(api, clock)
    finally:
        api.app.dependency_overrides.pop(current_time, None)
