"""Gauges read from the database when Prometheus scrapes: pool utilisation and the alert queue.

Their cost is bounded and independent of traffic: one query for the organisations with a pool
or with usage in the current minute (at most ``MAX_ORGS``), the pool view of each (the same
reads as ``GET /v1/usage/pools``), and one grouped count of the alerts waiting to be sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from prometheus_client.core import Metric
from sqlalchemy import func, select, union
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from service.alerts.models import PENDING, SENDING, Delivery
from service.db import session_scope
from service.observability.metrics import Metrics, ScrapeTimeGauges, gauge
from service.settings import Settings
from service.types import utcnow
from service.usage import store
from service.usage.pools import list_pools
from service.usage.windows import current_window

MAX_ORGS = 100


def _orgs(session: Session, *, first_bucket: int) -> list[str]:
    query = union(
        select(store.POOLS.c.org),
        select(store.BUCKETS.c.org).where(store.BUCKETS.c.bucket >= first_bucket),
    )
    return sorted(str(org) for (org,) in session.execute(query.limit(MAX_ORGS)))


def _ratio(pct: str | None) -> float | None:
    return None if pct is None else float(Decimal(pct) / 100)


def read_pools(engine: Engine, settings: Settings) -> Iterator[Metric]:
    labels = ["org", "family"]
    utilisation = gauge(
        "ratecard_pool_utilisation_ratio",
        "Highest of the pool's token and request utilisation over the last minute "
        "(1 = at the limit); absent when the pool has no known limit",
        labels,
    )
    tokens = gauge(
        "ratecard_pool_tokens_per_minute", "Tokens counted in the pool's last minute", labels
    )
    requests = gauge(
        "ratecard_pool_requests_per_minute", "Requests counted in the pool's last minute", labels
    )
    limit = gauge(
        "ratecard_pool_limit_tokens_per_minute",
        "The pool's effective TPM limit (configured, learned or the tier default)",
        labels,
    )
    now = utcnow()
    with session_scope(engine) as session:
        for org in _orgs(session, first_bucket=current_window(now)[0]):
            for pool in list_pools(session, org=org, now=now, settings=settings)["pools"]:
                values = [org, pool["family"]]
                tokens.add_metric(values, pool["tokens_per_minute"])
                requests.add_metric(values, pool["requests_per_minute"])
                ratio = _ratio(pool["utilisation_pct"])
                if ratio is not None:
                    utilisation.add_metric(values, ratio)
                tpm = pool["limit"].get("tokens_per_minute")
                if tpm is not None:
                    limit.add_metric(values, tpm)
    yield from (utilisation, tokens, requests, limit)


def read_alert_queue(engine: Engine) -> Iterator[Metric]:
    depth = gauge(
        "ratecard_alert_queue_depth",
        "Alert deliveries not yet done: pending (waiting or backing off) and sending (claimed)",
        ["status"],
    )
    counts = dict.fromkeys((PENDING, SENDING), 0)
    with session_scope(engine) as session:
        query = (
            select(col(Delivery.status), func.count())
            .where(col(Delivery.status).in_(list(counts)))
            .group_by(col(Delivery.status))
        )
        for status, count in session.execute(query):
            counts[str(status)] = int(count)
    for status, count in counts.items():
        depth.add_metric([status], count)
    yield depth


def install_database_gauges(metrics: Metrics, engine: Engine, settings: Settings) -> None:
    metrics.add_collector(ScrapeTimeGauges("pools", lambda: read_pools(engine, settings)))
    metrics.add_collector(ScrapeTimeGauges("alert queue", lambda: read_alert_queue(engine)))
