"""The fake's shared state: configuration, storage, the lock and request bookkeeping.

Each API area (files, fine-tuning, models, usage, costs) is a module holding a mixin over
:class:`StateCore` and an ``APIRouter``; :mod:`service.fakes.openai.state` combines the
mixins and :mod:`service.fakes.openai.app` the routes. A new area adds its own module the same
way, plus its storage here.
"""

from __future__ import annotations

import logging
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from service.fakes.openai.records import CompletionsUsage, CostItem, FakeFile, FakeJob
from service.fakes.openai.training import TextTokenCounter, default_text_counter

__all__ = ["ACTIVE_STATUSES", "RecordedRequest", "StateCore", "new_id"]

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = ("validating_files", "queued", "running")
_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    raw_path: str  # as sent, percent-encoding intact
    endpoint: str
    query_string: str
    headers: dict[str, str]


class StateCore:
    """Everything the fake knows, shared by the app and the tests (thread-safe).

    The app runs in uvicorn's thread while tests poke the state from theirs, so every public
    method takes ``self._lock``; no lock is ever held across an ``await``.
    """

    def __init__(
        self,
        *,
        step_seconds: float = 1.0,
        durations: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
        organization_id: str = "org-fake",
        organization_name: str = "fake-org",
        api_key: str | None = None,
        count_text_tokens: TextTokenCounter | None = None,
        min_training_examples: int = 1,
    ) -> None:
        unknown = set(durations or {}) - set(ACTIVE_STATUSES)
        if unknown:
            raise ValueError(f"durations for unknown states: {sorted(unknown)}")
        self.durations: dict[str, float] = {s: step_seconds for s in ACTIVE_STATUSES}
        self.durations.update(durations or {})
        self.clock = clock
        self.organization_id = organization_id
        self.organization_name = organization_name
        # None accepts any bearer token; a string makes other tokens get a 401.
        self.api_key = api_key
        self.count_text_tokens = count_text_tokens or default_text_counter()
        self.min_training_examples = min_training_examples
        self.request_counts: Counter[str] = Counter()
        self.request_log: list[RecordedRequest] = []
        self.create_job_requests: list[dict[str, Any]] = []
        # Storage of every area lives here so the mixins share one lock and one constructor.
        self._files: dict[str, FakeFile] = {}
        self._jobs: dict[str, FakeJob] = {}
        self._job_order: list[FakeJob] = []
        self._completions_usage: list[CompletionsUsage] = []
        self._costs: list[CostItem] = []
        self._lock = threading.RLock()
        # Set by release_delays(): anything waiting on wire timing stops waiting.
        self._released = threading.Event()

    def reset_counts(self) -> None:
        with self._lock:
            self.request_counts.clear()
            self.request_log.clear()

    def release_delays(self) -> None:
        """Cut short every pending delay (call before stopping a server)."""
        self._released.set()

    def record_request(self, request: RecordedRequest) -> None:
        with self._lock:
            self.request_counts[request.endpoint] += 1
            self.request_log.append(request)

    async def dispatch(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, endpoint: str
    ) -> None:
        """Serve one authenticated ``/v1`` request; a subclass may intercept it (tests
        inject faults this way)."""
        del endpoint  # used by subclasses that pick requests by route
        await app(scope, receive, send)

    def progress_jobs(self) -> None:
        """Bring every job up to the clock's time; the fine-tuning mixin implements it."""

    def planned_job_error(self) -> dict[str, Any] | None:
        """The error a newly created job will end with instead of succeeding; None (succeed)
        here, a subclass may plan failures."""
        return None
