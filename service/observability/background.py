"""Counting what the background services do, without them knowing about metrics.

The watcher's tick and the dispatcher's outcome recording are wrapped on the instance the app
built, before it is started: the tick's report says what it did, and the outcome says how a
delivery went. The tick also makes the app's metrics current in its thread, so the OpenAI
client counts its requests into them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from service.observability.metrics import Metrics, bind_metrics

if TYPE_CHECKING:  # imported when used: the app factory loads the features lazily
    from service.alerts.dispatcher import AlertDispatcher
    from service.jobs.watcher import JobWatcher, TickReport


def tick_outcome(report: TickReport) -> str:
    if report.errors:
        return "error"
    if not report.lease_held:
        return "standby"
    return "polled" if report.requests else "idle"


def observe_watcher(watcher: JobWatcher, metrics: Metrics) -> None:
    tick = watcher.tick

    @functools.wraps(tick)
    def counted_tick() -> TickReport:
        bind_metrics(metrics)
        report = tick()
        metrics.watcher_ticks.labels(tick_outcome(report)).inc()
        return report

    setattr(watcher, "tick", counted_tick)  # noqa: B010 (an instance attribute, not a method)


def observe_dispatcher(dispatcher: AlertDispatcher, metrics: Metrics) -> None:
    finish = dispatcher.finish

    @functools.wraps(finish)
    def counted_finish(alert: Any, outcome: Any) -> None:
        finish(alert, outcome)
        metrics.alert_deliveries.labels(str(outcome.result)).inc()

    setattr(dispatcher, "finish", counted_finish)  # noqa: B010


def observe_background(service: object, metrics: Metrics) -> None:
    from service.alerts.dispatcher import AlertDispatcher
    from service.jobs.watcher import JobWatcher

    if isinstance(service, JobWatcher):
        observe_watcher(service, metrics)
    elif isinstance(service, AlertDispatcher):
        observe_dispatcher(service, metrics)
