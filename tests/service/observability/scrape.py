"""Reading /metrics back the way Prometheus does."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import ADMIN_SECRET, client_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: Samples, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def scrape(app: FastAPI, secret: str = ADMIN_SECRET) -> Samples:
    with client_for(app, secret) as prometheus:
        response = prometheus.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def total(scraped: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scraped.items() if n == name and wanted <= ls)
