"""Helpers of the usage tests: a settable clock and a thin client over the usage API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session, select

from service.alerts.events import Event
from tests.service.conftest import Api

# A Monday noon, 5 s into a 10-second bucket: the current window is the buckets 11:59:10-12:00:00.
T0 = datetime(2025, 6, 2, 12, 0, 5, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = field(default=T0)

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class UsageApi:
    api: Api
    clock: Clock

    @property
    def admin(self) -> httpx.Client:
        return self.api.admin

    def post_events(
        self, *events: dict[str, Any], org: str | None = None, client: httpx.Client | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"events": list(events)}
        if org:
            body["org"] = org
        return (client or self.admin).post("/v1/usage", json=body)

    def pool(self, family: str, **params: str) -> dict[str, Any]:
        r = self.admin.get(f"/v1/usage/pools/{family}", params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def events(self, kind: str = "tpm.threshold") -> list[Event]:
        with Session(self.api.app.state.engine) as session:
            return list(session.exec(select(Event).where(Event.kind == kind).order_by(Event.id)))  # type: ignore[arg-type]


def ev(
    model: str = "gpt-3.5-turbo",
    prompt: int = 100,
    completion: int = 50,
    *,
    at: datetime | None = None,
    ago: float = 0,
    **extra: Any,
) -> dict[str, Any]:
    """A usage event as a client sends it (timestamp defaults to the fixed clock's now)."""
    moment = (at or T0) - timedelta(seconds=ago)
    return {
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "timestamp": moment.isoformat(),
        **extra,
    }
