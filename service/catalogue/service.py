"""Models and their lifecycle as of a date, from the shipped data plus what was published."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from pricing.catalogue import ResolvedModel
from pricing.errors import ModelNotAvailableError
from pricing.lifecycle import Lifecycle
from service.catalogue.schemas import FineTuningOut, ModelList, ModelOut, PlatformEventOut
from service.prices.service import load_reference


def describe(model: ResolvedModel, *, lifecycle: Lifecycle, as_of: date) -> ModelOut:
    info = model.model
    status = lifecycle.status(info, as_of=as_of, fine_tuned=model.fine_tuned)
    fine_tuning = []
    if not model.fine_tuned:
        for method in info.fine_tuning_methods:
            verdict = lifecycle.fine_tuning(info, method=method, as_of=as_of)
            fine_tuning.append(
                FineTuningOut(
                    method=method,
                    accepted=verdict.accepted,
                    reason=verdict.reason,
                    last_day=verdict.last_day,
                    days_left=verdict.days_left,
                    warnings=list(verdict.warnings),
                )
            )
    return ModelOut(
        id=info.id,
        requested=model.requested if model.requested != info.id else None,
        fine_tuned=model.fine_tuned,
        family=info.family,
        context_window=info.context_window,
        long_context_threshold=info.long_context_threshold,
        encoding=info.encoding,
        released=info.released,
        state=status.state,
        shutdown_date=status.shutdown_date,
        days_left=status.days_left,
        replacement=status.replacement,
        announced=status.announced,
        source=status.source,
        fine_tuning=fine_tuning,
        notes="; ".join(n for n in (info.notes, status.notes) if n),
    )


def list_models(
    session: Session,
    *,
    as_of: date,
    name: str | None = None,
    state: str | None = None,
    fine_tunable: bool | None = None,
) -> ModelList:
    """Every catalogue model (or one pasted name, ft: names included) with its state on a day."""
    reference = load_reference(session)
    catalogue, lifecycle = reference.catalogue, reference.lifecycle
    if name:
        resolved = [catalogue.resolve(name, as_of=as_of)]
    else:
        resolved = [
            catalogue.resolve(model_id, as_of=as_of) for model_id in sorted(catalogue.models)
        ]
    models = [describe(m, lifecycle=lifecycle, as_of=as_of) for m in resolved]
    if state:
        models = [m for m in models if m.state == state]
    if fine_tunable is not None:
        models = [m for m in models if bool(m.fine_tuning) == fine_tunable]
    aliases = {}
    for alias in catalogue.alias_names:
        try:
            aliases[alias] = catalogue.alias_target(alias, as_of)
        except ModelNotAvailableError:
            continue  # not pointing anywhere yet on that date
    return ModelList(
        as_of=as_of,
        fine_tuning_closes=lifecycle.fine_tuning_closes(as_of),
        platform=[
            PlatformEventOut(date=e.date, kind=e.kind, text=e.text, source=e.source)
            for e in lifecycle.platform
            if e.announced <= as_of
        ],
        models=models,
        aliases=aliases,
    )
