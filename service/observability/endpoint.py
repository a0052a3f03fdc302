"""GET /metrics: the app's registry in the Prometheus text format, guarded per RATECARD_METRICS.

Not part of the OpenAPI document: it is text for Prometheus, not a JSON API.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import bearer_credentials, own_read_key
from service.observability.metrics import Metrics
from service.settings import Settings

PATH = "/metrics"


async def _authorise(request: Request, settings: Settings) -> None:
    """The metrics token, else an API key with the read scope (401/403 problems otherwise)."""
    credentials = await bearer_credentials(request)
    token = settings.metrics_token
    if (
        token is not None
        and credentials is not None
        and credentials.scheme.lower() == "bearer"
        and hmac.compare_digest(credentials.credentials.encode(), token.get_secret_value().encode())
    ):
        return
    # Checked against the api_keys table, not only the key cache: a key revoked on any replica
    # (the watcher revokes none itself, so its cache would never learn) is refused at once.
    await run_in_threadpool(own_read_key, request, credentials)


def install_metrics_endpoint(app: FastAPI, metrics: Metrics, settings: Settings) -> None:
    if settings.metrics == "off":
        return  # 404, like any path the service does not have

    async def scrape(request: Request) -> Response:
        if settings.metrics == "key":
            await _authorise(request, settings)
        # The database gauges read in the threadpool, off the event loop.
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(PATH, scrape, methods=["GET"], include_in_schema=False)
