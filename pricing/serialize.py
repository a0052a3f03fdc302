"""Plain-dict views of estimates: the JSON field names shared by the CLI and the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pricing.datasets import FormatProblem
from pricing.estimate import BreakEven, Comparison, InferenceEstimate, TrainingEstimate
from pricing.money import format_usd


def format_errors_to_list(problems: Iterable[FormatProblem]) -> list[dict[str, Any]]:
    """Format errors of a training file, one entry per kind with its first line numbers."""
    return [
        {"kind": p.kind, "count": p.count, "lines": list(p.first_lines), "message": p.message}
        for p in problems
    ]


def training_to_dict(e: TrainingEstimate) -> dict[str, Any]:
    return {
        "model": e.model,
        "requested_model": e.requested_model,
        "price_version": e.price_version,
        "as_of": e.as_of.isoformat(),
        "n_examples": e.n_examples,
        "billing_tokens": e.billing_tokens,
        "n_epochs": e.n_epochs,
        "epochs_auto": e.epochs_auto,
        "charged_tokens": e.charged_tokens,
        "usd_per_1m_training_tokens": format_usd(e.usd_per_1m_training_tokens),
        "price_source": e.price_source,
        "cost_usd": format_usd(e.cost_usd),
        "warnings": list(e.warnings),
        "method": e.method,
        "free_training_tokens": e.free_training_tokens,
        "promotion": e.promotion,
        "training_hours": _hours(e.training_hours),
        "training_hours_max": _hours(e.training_hours_max),
        "usd_per_training_hour": _usd(e.usd_per_training_hour),
        "cost_usd_max": _usd(e.cost_usd_max),
        "format_errors": [],
    }


def _usd(amount: Decimal | None) -> str | None:
    return None if amount is None else format_usd(amount)


def _hours(hours: Decimal | None) -> str | None:
    # Plain notation, never exponent form: an hour count reads as the user gave it.
    return None if hours is None else f"{hours.normalize():f}"


def inference_to_dict(e: InferenceEstimate) -> dict[str, Any]:
    return {
        "name": e.name,
        "model": e.model,
        "requested_model": e.requested_model,
        "fine_tuned": e.fine_tuned,
        "price_version": e.price_version,
        "as_of": e.as_of.isoformat(),
        "prompt_tokens": e.workload.prompt_tokens,
        "completion_tokens": e.workload.completion_tokens,
        "requests_per_day": e.workload.requests_per_day,
        "usd_per_1m_input_tokens": format_usd(e.usd_per_1m_input_tokens),
        "usd_per_1m_output_tokens": format_usd(e.usd_per_1m_output_tokens),
        "price_source": e.price_source,
        "cost_per_request_usd": format_usd(e.cost_per_request_usd),
        "cost_per_day_usd": format_usd(e.cost_per_day_usd),
        "cost_per_month_usd": format_usd(e.cost_per_month_usd),
        "tier": e.tier,
        "long_context": e.long_context,
        "cached_prompt_tokens": e.workload.cached_prompt_tokens,
        "cache_write_tokens": e.workload.cache_write_tokens,
        "usd_per_1m_cached_input_tokens": _usd(e.usd_per_1m_cached_input_tokens),
        "usd_per_1m_cache_write_tokens": _usd(e.usd_per_1m_cache_write_tokens),
        "warnings": list(e.warnings),
    }


def break_even_to_dict(b: BreakEven) -> dict[str, Any]:
    return {
        "against": b.against,
        "saving_per_request_usd": format_usd(b.saving_per_request_usd),
        "never": b.never,
        "requests": b.requests,
        "days": None if b.days is None else f"{b.days.quantize(Decimal('0.1'))}",
    }


def comparison_to_dict(c: Comparison) -> dict[str, Any]:
    return {
        "scenarios": [inference_to_dict(s) for s in c.scenarios],
        "training": training_to_dict(c.training) if c.training else None,
        "break_even": [break_even_to_dict(b) for b in c.break_even],
    }
