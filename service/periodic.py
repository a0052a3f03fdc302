"""A background job that runs every interval on a daemon thread until the app stops."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class PeriodicThread:
    """Runs :meth:`run_once` every ``interval_seconds``; a failure is logged and waits for the
    next run. ``first_delay_seconds`` is how long after start the first run comes."""

    name = "periodic"

    def __init__(self, *, interval_seconds: float, first_delay_seconds: float) -> None:
        self._interval = interval_seconds
        self._first_delay = first_delay_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        wait = self._first_delay
        while not self._stop.wait(wait):
            wait = self._interval
            try:
                self.run_once()
            except Exception:
                log.exception("%s failed; retrying in %.0f s", self.name, self._interval)
