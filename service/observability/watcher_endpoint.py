"""`ratecard watcher`'s own /metrics: the process has no API, so it gets a small one of its own.

Off unless RATECARD_WATCHER_METRICS_ADDRESS is set. The app is a FastAPI app with one route, the
service's own /metrics endpoint (service.observability.endpoint), so it is guarded exactly the
same way (RATECARD_METRICS off|public|key, RATECARD_METRICS_TOKEN or a read API key, read from
the database the watcher already uses) and refuses with the same problem responses. uvicorn
serves it on a daemon thread beside the watcher's.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from service.auth.cache import KeyCache
from service.auth.last_used import LastUsed
from service.observability.address import parse_address
from service.observability.endpoint import install_metrics_endpoint
from service.observability.metrics import Metrics
from service.problems import install_problem_handlers
from service.settings import Settings

log = logging.getLogger(__name__)
START_TIMEOUT_SECONDS = 10.0


def build_metrics_app(metrics: Metrics, engine: Engine, settings: Settings) -> FastAPI:
    """GET /metrics and nothing else (no docs, no OpenAPI document)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    # What the endpoint's key check reads (service.deps.cached_caller), as in the service.
    app.state.settings = settings
    app.state.engine = engine
    app.state.key_cache = KeyCache()
    app.state.last_used = LastUsed()
    install_problem_handlers(app)
    install_metrics_endpoint(app, metrics, settings)
    return app


class MetricsServer:
    """uvicorn on a socket bound before start, so a busy port fails the process at once."""

    def __init__(self, app: FastAPI, address: str) -> None:
        host, port = parse_address(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            # No lifespan (nothing to start), no access log: Prometheus scrapes every 15 s.
            uvicorn.Config(
                app, lifespan="off", access_log=False, log_config=None, timeout_graceful_shutdown=1
            )
        )
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="watcher-metrics",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()  # the socket is bound: give the port back
                raise RuntimeError(f"the metrics endpoint did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        log.info("serving the watcher's /metrics on %s:%s", self.host, self.port)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()


def start_watcher_metrics(
    metrics: Metrics, engine: Engine, settings: Settings
) -> MetricsServer | None:
    """The started endpoint, or None when RATECARD_WATCHER_METRICS_ADDRESS is unset."""
    address = settings.watcher_metrics_address
    if address is None:
        return None
    if settings.metrics == "off":
        log.warning(
            "RATECARD_WATCHER_METRICS_ADDRESS is set but RATECARD_METRICS=off: no /metrics served"
        )
        return None
    server = MetricsServer(build_metrics_app(metrics, engine, settings), address)
    server.start()
    return server
