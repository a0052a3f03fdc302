"""The request's unit of work: committed before the response goes out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, text

from tests.service.asgi import bearer, call, http_scope, json_body
from tests.service.conftest import ADMIN_SECRET, Api

BODY = {
    "model": "gpt-3.5-turbo",
    "as_of": "2024-06-01",
    "workload": {"prompt_tokens": 1500, "completion_tokens": 200, "requests_per_day": 10000},
}


def _call(app: Any, path: str, body: bytes, on_response: Callable[[], None]) -> int:
    scope = http_scope("POST", path, [bearer(ADMIN_SECRET), *json_body(body)])
    status, _ = asyncio.run(call(app, scope, [body], on_response_start=on_response))
    return status


def test_session__the_write_is_committed_before_the_response_starts(api: Api, database_url):
    # Another replica's view of the database at the moment the response starts.
    replica = create_engine(database_url)
    seen: list[int] = []

    def count_estimates() -> None:
        with replica.connect() as connection:
            seen.append(connection.execute(text("SELECT count(*) FROM estimates")).scalar_one())

    status = _call(api.app, "/v1/estimates/inference", json.dumps(BODY).encode(), count_estimates)
    replica.dispose()
    assert status == 201
    # A client holding a 201 can read the estimate back at once, on any replica.
    assert seen == [1]
