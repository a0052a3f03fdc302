"""Metrics for Prometheus, request ids and structured logs: how the service reports on itself."""
