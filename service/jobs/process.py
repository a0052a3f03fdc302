"""``ratecard watcher``: the job watcher as its own process (the API runs elsewhere)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from service.db import create_db_engine, migrate
from service.jobs.watcher import JobWatcher
from service.observability.background import observe_watcher
from service.observability.metrics import Metrics
from service.observability.watcher_endpoint import start_watcher_metrics
from service.settings import Settings

log = logging.getLogger(__name__)


def run_watcher(settings: Settings) -> int:
    """Tick until SIGTERM/SIGINT, then hand the lease over. Several may run: one polls at a time."""
    if settings.openai_api_key is None:
        sys.stderr.write(
            "ratecard watcher: set RATECARD_OPENAI_API_KEY (and RATECARD_OPENAI_BASE_URL)\n"
        )
        return 2
    engine = create_db_engine(settings.database_url)
    migrate(engine)
    watcher = JobWatcher(engine=engine, settings=settings)
    # Counted as inside `serve`; scraped only if RATECARD_WATCHER_METRICS_ADDRESS is set.
    metrics = Metrics()
    observe_watcher(watcher, metrics)
    try:
        metrics_server = start_watcher_metrics(metrics, engine, settings)
    except (OSError, RuntimeError) as exc:  # the port is taken, not this host's, or no start
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        sys.stderr.write(
            f"ratecard watcher: cannot serve /metrics on {settings.watcher_metrics_address}: "
            f"{reason}\n"
        )
        engine.dispose()
        return 2
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("job watcher %s: signal %s, stopping", watcher.holder, signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watcher.start()
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        watcher.stop()
        if metrics_server is not None:
            metrics_server.stop()
        engine.dispose()
    return 0
