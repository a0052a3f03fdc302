"""What the service reports to Prometheus, in one per-app registry.

Every app (tests build many) gets its own ``Metrics`` and ``CollectorRegistry``: nothing is
registered at import time, so two apps in one process never collide or share counts. Each
replica (and each uvicorn worker process) counts its own requests; Prometheus scrapes every
replica and ``sum by (...)`` adds them up. The pool and alert-queue gauges are read from the
shared database at scrape time, so every replica reports the same values: aggregate those with
``max``, not ``sum``.

Code with no reference to the app (the OpenAI client, usage ingest) reaches the metrics of the
request or background tick it runs in through ``current_metrics()``, a context variable the
HTTP middleware and the background wrappers set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Seconds. Most endpoints answer in a few milliseconds; uploads and reports take seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# The label of requests no route matched (a 404 on an unknown path, a request refused before
# routing): one value, so scanners cannot grow the label set.
UNMATCHED = "(unmatched)"

# Estimate routes and the kind each records; counted when they answer 2xx.
ESTIMATE_ROUTES = {
    "/v1/estimates/training": "training",
    "/v1/estimates/training/file": "training_file",
    "/v1/estimates/inference": "inference",
}

OPENAI_OUTCOMES = ("success", "rate_limited", "client_error", "server_error", "transport_error")
IMPORT_SOURCES = ("usage", "costs")
IMPORT_OUTCOMES = ("success", "failure")


class Metrics:
    """The counters and histograms of one app, and its registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "ratecard_http_requests",
            "HTTP requests answered, by method, route template and status code",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "ratecard_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.estimates = Counter(
            "ratecard_estimates", "Estimates answered, by kind", ["kind"], registry=r
        )
        self.usage_events = Counter(
            "ratecard_usage_events_ingested",
            "Usage events counted into the pools (duplicates of a request_id excluded)",
            registry=r,
        )
        self.watcher_ticks = Counter(
            "ratecard_watcher_ticks",
            "Job watcher ticks by outcome: polled, idle (nothing to watch), "
            "standby (another replica holds the lease), error",
            ["outcome"],
            registry=r,
        )
        self.openai_requests = Counter(
            "ratecard_openai_requests",
            "HTTP requests sent to the OpenAI API (each retry counts), by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.alert_deliveries = Counter(
            "ratecard_alert_deliveries",
            "Alert delivery attempts by outcome: delivered, retry, failed, disabled",
            ["outcome"],
            registry=r,
        )
        self.imports = Counter(
            "ratecard_imports",
            "Imports of OpenAI's usage and costs data by source (usage, costs) and outcome "
            "(success, failure)",
            ["source", "outcome"],
            registry=r,
        )
        # Label children cached per (method, route, status): labels() takes a lock and hashes
        # every call, and the middleware runs on every request.
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._http_children.get(key)
        if children is None:
            children = (
                self.http_requests.labels(method, route, str(status)),
                self.http_latency.labels(method, route),
            )
            self._http_children[key] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)
        if 200 <= status < 300 and method == "POST":
            kind = ESTIMATE_ROUTES.get(route)
            if kind is not None:
                self.estimates.labels(kind).inc()

    def observe_openai(self, method: str, status: int | None) -> None:
        """One HTTP exchange with OpenAI; ``status`` None when no response came back."""
        if status is None:
            outcome = "transport_error"
        elif status < 400:
            outcome = "success"
        elif status == 429:
            outcome = "rate_limited"
        elif status < 500:
            outcome = "client_error"
        else:
            outcome = "server_error"
        self.openai_requests.labels(method, outcome).inc()

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)


_current: ContextVar[Metrics | None] = ContextVar("ratecard_metrics", default=None)


def current_metrics() -> Metrics | None:
    """The metrics of the request or background tick running now, if any."""
    return _current.get()


def bind_metrics(metrics: Metrics | None) -> None:
    """Make ``metrics`` current in this context (a request's task, a background thread)."""
    _current.set(metrics)


def observe_openai(method: str, status: int | None) -> None:
    metrics = _current.get()
    if metrics is not None:
        metrics.observe_openai(method, status)


def count_usage_events(accepted: int) -> None:
    metrics = _current.get()
    if metrics is not None and accepted > 0:
        metrics.usage_events.inc(accepted)


def count_import(source: str, outcome: str) -> None:
    """For the usage and costs importers: source in IMPORT_SOURCES, outcome in IMPORT_OUTCOMES."""
    metrics = _current.get()
    if metrics is not None:
        metrics.imports.labels(source, outcome).inc()


class ScrapeTimeGauges(Collector):
    """Gauges read when Prometheus scrapes: ``read()`` yields (name, help, labels, samples).

    A failed read (database down) is logged and leaves these gauges out of the scrape, so the
    request counters are still reported when they matter most.
    """

    def __init__(self, name: str, read: Callable[[], Iterator[Metric]]) -> None:
        self.name = name
        self.read = read

    def collect(self) -> Iterator[Metric]:
        try:
            families = list(self.read())
        except Exception as exc:  # the scrape must not fail with the database
            log.warning("metrics: could not read %s: %s", self.name, type(exc).__name__)
            return iter(())
        return iter(families)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # no database read at registration


def gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)
