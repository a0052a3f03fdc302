"""Estimates priced with the service's price book and overrides, each stored for finance."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from sqlmodel import Session

from pricing.catalogue import Catalogue, ResolvedModel
from pricing.estimate import (
    Epochs,
    InferenceEstimate,
    TrainingEstimate,
    Workload,
    compare_scenarios,
    estimate_inference,
    estimate_training,
    shortened_prompt,
)
from pricing.money import format_usd
from pricing.promotions import load_promotions
from pricing.serialize import (
    break_even_to_dict,
    format_errors_to_list,
    inference_to_dict,
    training_to_dict,
)
from service.db import final_write
from service.errors import InvalidInput
from service.estimates.models import EstimateRecord
from service.estimates.renderings import renderings
from service.estimates.schemas import InferenceRequest, TrainingRequest
from service.prices.service import Reference, catalogue_for, load_reference
from service.types import utcnow

log = logging.getLogger(__name__)


class DatasetInvalid(InvalidInput):
    """A training file with format errors: 422 with every error kind and its line numbers."""

    title = "Training file has format errors"


def _today() -> date:
    return datetime.now(UTC).date()


def _new_id() -> str:
    return "est_" + secrets.token_hex(8)


_INSERT_ESTIMATE = EstimateRecord.__table__.insert()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NewEstimate:
    """A priced estimate not stored yet: the response body and the row that records it."""

    result: dict[str, Any]
    row: dict[str, Any]


def _new_estimate(
    *,
    kind: str,
    requested_by: str,
    model: str,
    as_of: date,
    price_version: str,
    cost: Decimal,
    inputs: dict[str, Any],
    result: dict[str, Any],
) -> NewEstimate:
    row = {
        "id": result["id"],
        "kind": kind,
        "requested_by": requested_by,
        "created_at": utcnow(),
        "model": model,
        "as_of": as_of,
        "price_version": price_version,
        "cost_usd": cost,
        "inputs": inputs,
        "result": result,
    }
    row.update(renderings(row))
    return NewEstimate(result, row)


def store(session: Session, new: NewEstimate) -> dict[str, Any]:
    """Store the estimate; the caller's transaction commits it before the answer goes out."""
    with final_write(session) as connection:
        connection.execute(_INSERT_ESTIMATE, new.row)
    row = new.row
    log.info(
        "estimate %s (%s, %s) by %s: $%s",
        row["id"],
        row["kind"],
        row["model"],
        row["requested_by"],
        format_usd(row["cost_usd"]),
    )
    return new.result


def _new_training(
    *,
    estimate: TrainingEstimate,
    requested_by: str,
    inputs: dict[str, Any],
    result: dict[str, Any],
) -> NewEstimate:
    return _new_estimate(
        kind="training",
        requested_by=requested_by,
        model=estimate.model,
        as_of=estimate.as_of,
        price_version=estimate.price_version,
        cost=estimate.cost_usd,
        inputs=inputs,
        result=result,
    )


def price_training(
    reference: Reference,
    *,
    model: str,
    as_of: date | None,
    n_epochs: Epochs,
    tokens: int | None = None,
    token_lengths: list[int] | None = None,
    n_examples: int | None = None,
    warnings: tuple[str, ...] = (),
    method: str = "supervised",
    training_hours: Decimal | None = None,
    training_hours_max: Decimal | None = None,
) -> TrainingEstimate:
    """Price a training run without storing it (the jobs feature reuses this before launching).

    The lifecycle says whether OpenAI accepts the job on that day (and how long it still will);
    a free-training promotion in force that day is applied, so a past date prices what OpenAI
    charged.
    """
    day = as_of or _today()
    return estimate_training(
        model=reference.catalogue.resolve(model, as_of=day),
        book=reference.book,
        as_of=day,
        billing_tokens=tokens,
        token_lengths=token_lengths,
        n_examples=n_examples,
        n_epochs=n_epochs,
        overrides=reference.overrides,
        warnings=warnings,
        method=method,
        training_hours=training_hours,
        training_hours_max=training_hours_max,
        lifecycle=reference.lifecycle,
        promotions=load_promotions(),
    )


def training_estimate(
    reference: Reference, *, request: TrainingRequest, requested_by: str
) -> NewEstimate:
    """Price a training estimate request against a price reference (no I/O)."""
    estimate = price_training(
        reference,
        model=request.model,
        as_of=request.as_of,
        n_epochs=request.n_epochs,
        tokens=request.tokens,
        token_lengths=request.token_lengths,
        n_examples=request.n_examples,
        method=request.method,
        training_hours=request.training_hours,
        training_hours_max=request.training_hours_max,
    )
    result = {"id": _new_id(), **training_to_dict(estimate), "dataset": None}
    inputs = request.model_dump(mode="json", exclude={"token_lengths"})
    if request.token_lengths is not None:
        inputs["n_token_lengths"] = len(request.token_lengths)
    return _new_training(estimate=estimate, requested_by=requested_by, inputs=inputs, result=result)


def create_training_estimate(
    session: Session, *, request: TrainingRequest, requested_by: str
) -> dict[str, Any]:
    new = training_estimate(load_reference(session), request=request, requested_by=requested_by)
    return store(session, new)


def create_inference_estimate(
    session: Session, *, request: InferenceRequest, requested_by: str
) -> dict[str, Any]:
    new = inference_estimate(load_reference(session), request=request, requested_by=requested_by)
    return store(session, new)


def analyse_file(*, catalogue: Catalogue, path: Path, model: str, as_of: date | None) -> Any:
    """Token statistics of a training file for the model's tokenizer and per-example limit."""
    from pricing.datasets import analyse_training_file

    day = as_of or _today()
    resolved = catalogue.resolve(model, as_of=day)
    limit = resolved.model.training_example_limit
    if limit is None:
        from pricing.errors import NotFineTunableError

        raise NotFineTunableError(f"{resolved.id} cannot be fine-tuned")
    return analyse_training_file(
        path, encoding_name=resolved.encoding, max_tokens_per_example=limit
    )


def format_errors_out(stats: Any) -> list[dict[str, Any]]:
    return format_errors_to_list(stats.format_errors)


def dataset_summary(stats: Any) -> dict[str, Any]:
    return {
        "format": stats.format,
        "n_examples": stats.n_examples,
        "total_tokens": stats.total_tokens,
        "billing_tokens": stats.billing_tokens,
        "assistant_tokens": stats.assistant_tokens,
        "truncated_examples": stats.truncated_examples,
        "bytes_read": stats.bytes_read,
    }


def refuse_reinforcement_file() -> NoReturn:
    raise InvalidInput(
        "reinforcement fine-tuning is billed per hour of training, not per token of a file: "
        "POST /v1/estimates/training with method=reinforcement and training_hours"
    )


def create_file_estimate(
    session: Session,
    *,
    path: Path,
    filename: str,
    model: str,
    n_epochs: Epochs,
    as_of: date | None,
    requested_by: str,
    method: str = "supervised",
) -> dict[str, Any]:
    if method == "reinforcement":
        refuse_reinforcement_file()
    stats = analyse_file(catalogue=catalogue_for(session), path=path, model=model, as_of=as_of)
    if stats.format_errors:
        errors = format_errors_out(stats)
        raise DatasetInvalid(
            f"{filename}: " + "; ".join(e["message"] for e in errors),
            format_errors=errors,
        )
    reference = load_reference(session)
    estimate = price_training(
        reference,
        model=model,
        as_of=as_of,
        n_epochs=n_epochs,
        tokens=stats.billing_tokens,
        n_examples=stats.n_examples,
        warnings=tuple(stats.warnings),
        method=method,
    )
    result = {"id": _new_id(), **training_to_dict(estimate), "dataset": dataset_summary(stats)}
    inputs = {
        "model": model,
        "method": method,
        "n_epochs": n_epochs,
        "as_of": as_of.isoformat() if as_of else None,
        "filename": filename,
        "bytes": stats.bytes_read,
    }
    return store(
        session,
        _new_training(estimate=estimate, requested_by=requested_by, inputs=inputs, result=result),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _workload(prompt: int, completion: int, per_day: int, *, cached: int, written: int) -> Workload:
    """A workload whose cached and cache-written parts fit its prompt (a cut prompt keeps what
    fits, cached tokens first)."""
    cached = min(cached, prompt)
    return Workload(prompt, completion, per_day, cached, min(written, prompt - cached))


def inference_estimate(
    reference: Reference, *, request: InferenceRequest, requested_by: str
) -> NewEstimate:
    """Price an inference estimate request against a price reference (no I/O)."""
    day = request.as_of or _today()
    catalogue, book, overrides = reference.catalogue, reference.book, reference.overrides
    w = request.workload
    workload = Workload(
        w.prompt_tokens,
        w.completion_tokens,
        w.requests_per_day,
        w.cached_prompt_tokens,
        w.cache_write_tokens,
    )
    main = catalogue.resolve(request.model, as_of=day)

    def priced(resolved: ResolvedModel, load: Workload, name: str, tier: str) -> InferenceEstimate:
        return estimate_inference(
            model=resolved,
            workload=load,
            book=book,
            as_of=day,
            overrides=overrides,
            name=name,
            tier=tier,
            lifecycle=reference.lifecycle,
        )

    estimates = [priced(main, workload, request.model, request.tier)]
    if request.fine_tune_prompt_cut is not None:
        if main.fine_tuned:
            raise InvalidInput("fine_tune_prompt_cut needs a base model as `model`")
        ft = catalogue.resolve(f"ft:{main.id}:org::scenario", as_of=day)
        cut_workload = _workload(
            shortened_prompt(w.prompt_tokens, Decimal(str(request.fine_tune_prompt_cut))),
            w.completion_tokens,
            w.requests_per_day,
            cached=w.cached_prompt_tokens,
            written=w.cache_write_tokens,
        )
        name = f"fine-tuned {main.id} (prompt cut {request.fine_tune_prompt_cut:.0%})"
        estimates.append(priced(ft, cut_workload, name, request.tier))
    for s in request.scenarios:
        prompt = _or(s.prompt_tokens, w.prompt_tokens)
        completion = _or(s.completion_tokens, w.completion_tokens)
        if s.cached_prompt_tokens is None and s.cache_write_tokens is None:
            sw = _workload(
                prompt,
                completion,
                w.requests_per_day,
                cached=w.cached_prompt_tokens,
                written=w.cache_write_tokens,
            )
        else:  # given for this scenario: held to its prompt, not trimmed to fit
            sw = Workload(
                prompt,
                completion,
                w.requests_per_day,
                _or(s.cached_prompt_tokens, w.cached_prompt_tokens),
                _or(s.cache_write_tokens, w.cache_write_tokens),
            )
        resolved = catalogue.resolve(s.model, as_of=day)
        estimates.append(priced(resolved, sw, s.name or s.model, s.tier or request.tier))
    names = [e.name for e in estimates]
    if len(set(names)) != len(names):
        raise InvalidInput("scenario names must be unique; give each scenario a `name`")
    training = None
    fine_tuned = next((e for e in estimates if e.fine_tuned), None)
    if request.training_tokens is not None:
        if fine_tuned is None:
            raise InvalidInput("training_tokens is for break-even: include a fine-tuned scenario")
        training = estimate_training(
            model=catalogue.resolve(fine_tuned.model, as_of=day),
            book=book,
            as_of=day,
            billing_tokens=request.training_tokens,
            n_examples=request.training_examples,
            n_epochs=request.training_epochs,
            overrides=overrides,
            lifecycle=reference.lifecycle,
            promotions=load_promotions(),
        )
    comparison = compare_scenarios(estimates, training=training)
    first = estimates[0]
    warnings = [n for e in estimates for n in e.warnings]
    warnings += list(training.warnings) if training else []
    result = {
        "id": _new_id(),
        "price_version": first.price_version,
        "as_of": day.isoformat(),
        "cost_per_request_usd": format_usd(first.cost_per_request_usd),
        "cost_per_day_usd": format_usd(first.cost_per_day_usd),
        "cost_per_month_usd": format_usd(first.cost_per_month_usd),
        "tier": first.tier,
        "warnings": list(dict.fromkeys(warnings)),
        "scenarios": [inference_to_dict(e) for e in estimates],
        "training": training_to_dict(training) if training else None,
        "break_even": [break_even_to_dict(b) for b in comparison.break_even],
    }
    return _new_estimate(
        kind="inference",
        requested_by=requested_by,
        model=first.model,
        as_of=day,
        price_version=first.price_version,
        cost=first.cost_per_month_usd,
        inputs=request.model_dump(mode="json"),
        result=result,
    )
