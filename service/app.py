"""The FastAPI app factory. Nothing is built at import time; tests call create_app(settings)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI

from service.auth.cache import KeyCache
from service.auth.last_used import LastUsed
from service.db import ConnectionGate, create_db_engine, migrate
from service.docs import install_docs
from service.estimates.router import MULTIPART_ALLOWANCE, UPLOAD_PATH
from service.limits import ControlCharacterGuard, RequestSizeLimit
from service.observability.background import observe_background
from service.observability.endpoint import install_metrics_endpoint
from service.observability.gauges import install_database_gauges
from service.observability.metrics import Metrics
from service.observability.middleware import ObservabilityMiddleware
from service.openapi import install_openapi
from service.problems import install_problem_handlers
from service.settings import Settings

log = logging.getLogger(__name__)


class BackgroundService(Protocol):
    """Something the app runs beside the API (job watcher, alert dispatcher)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


# Each entry builds an optional background service from the app; returns None when disabled.
BackgroundFactory = Callable[[FastAPI], BackgroundService | None]


def _routers() -> list[Any]:
    from service.alerts.router import router as alerts
    from service.auth.router import router as auth
    from service.billing.router import router as billing
    from service.catalogue.router import router as models
    from service.estimates.router import router as estimates
    from service.health.router import router as health
    from service.jobs.router import budgets_router as budgets
    from service.jobs.router import router as jobs
    from service.planning.router import router as planning
    from service.prices.router import router as prices
    from service.reports.router import router as reports
    from service.ui.router import router as ui
    from service.usage.router import router as usage
    from service.usage_import.router import router as usage_imports

    # Routes are matched in order: the per-request endpoints (estimates, usage) come first.
    return [
        health,
        estimates,
        usage,
        usage_imports,
        auth,
        prices,
        models,
        alerts,
        jobs,
        budgets,
        reports,
        ui,
        planning,
        billing,
    ]


def _background_factories() -> list[BackgroundFactory]:
    from service.alerts.dispatcher import dispatcher_factory
    from service.billing.scheduler import importer_factory as costs_importer_factory
    from service.jobs.watcher import watcher_factory
    from service.planning.alerts import countdown_factory
    from service.usage.janitor import janitor_factory
    from service.usage_import.scheduler import importer_factory

    return [
        dispatcher_factory,
        watcher_factory,
        janitor_factory,
        importer_factory,
        countdown_factory,
        costs_importer_factory,
    ]


def create_app(settings: Settings, *, run_background: bool = True) -> FastAPI:
    engine = create_db_engine(settings.database_url, connections=settings.db_connections)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started: list[BackgroundService] = []
        if run_background:
            for factory in _background_factories():
                svc = factory(app)
                if svc is not None:
                    observe_background(svc, app.state.metrics)
                    svc.start()
                    started.append(svc)
        try:
            yield
        finally:
            for svc in reversed(started):
                svc.stop()
            engine.dispose()

    app = FastAPI(
        title="ratecard",
        version="0.1.0",
        summary="Cost and rate-limit planning for teams that fine-tune and run OpenAI models.",
        description=(
            "Money is a decimal string in USD, rounded once to 6 places (half-even). "
            "Authenticate with `Authorization: Bearer rc_...`; "
            "scopes: read, estimate, launch, admin. "
            "Errors are `application/problem+json`."
        ),
        lifespan=lifespan,
        docs_url=None,  # service.docs serves them without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.connection_gate = ConnectionGate(engine)
    app.state.key_cache = KeyCache()
    app.state.last_used = LastUsed()
    metrics = Metrics()
    install_database_gauges(metrics, engine, settings)
    app.state.metrics = metrics
    migrate(engine)
    install_problem_handlers(app)
    install_openapi(app)
    install_docs(app)
    app.add_middleware(
        RequestSizeLimit,
        max_bytes=settings.max_request_bytes,
        # The file itself is held to max_upload_bytes as it is spooled; this bounds the rest.
        per_path={UPLOAD_PATH: settings.max_upload_bytes + MULTIPART_ALLOWANCE},
    )
    app.add_middleware(ControlCharacterGuard)  # before any route or body is read
    # Outermost: refusals by the guards above are counted and carry a request id too.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    for router in _routers():
        app.include_router(router)
    install_metrics_endpoint(app, metrics, settings)
    return app
