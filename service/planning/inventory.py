"""Every fine-tuned model the organisation has, from three sources, with its countdown.

- the jobs ratecard launched or watched (base, trained tokens, actual or estimated cost);
- OpenAI: ``GET /v1/models`` lists the organisation's fine-tuned models and the fine-tuning job
  list names the base and trained tokens of each (read live when an API key is configured; when
  OpenAI cannot be reached the inventory says so and answers from the other sources);
- the usage history: any ``ft:`` name that served traffic in the window.

Each model's countdown is its base's shutdown as known today (``Lifecycle.status`` with
``fine_tuned=True``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from pricing.catalogue import ResolvedModel
from pricing.errors import PricingError
from pricing.estimate import estimate_training
from pricing.lifecycle import ModelStatus
from service.errors import ServiceError
from service.jobs.gateway import OpenAIGateway
from service.jobs.models import Job
from service.openai import OpenAIClient
from service.openai.errors import OpenAIError
from service.openai.models import FineTuningJob
from service.planning.traffic import ModelTraffic, fine_tuned_traffic
from service.prices.service import Reference, load_reference
from service.settings import Settings

log = logging.getLogger(__name__)

SOURCE_JOBS = "ratecard_jobs"
SOURCE_OPENAI = "openai"
SOURCE_USAGE = "usage"


@dataclass
class FineTunedModel:
    name: str
    resolved: ResolvedModel
    status: ModelStatus
    sources: set[str] = field(default_factory=set)
    method: str | None = None
    job_id: str | None = None
    trained_tokens: int | None = None
    training_cost_usd: Decimal | None = None
    training_cost_basis: str | None = None  # actual | estimated | computed
    traffic: ModelTraffic | None = None

    @property
    def base(self) -> str:
        return self.resolved.id


@dataclass(frozen=True)
class OpenAIView:
    """What OpenAI said: its fine-tuned model ids and its succeeded jobs by fine-tuned model."""

    models: list[str]
    jobs: dict[str, FineTuningJob]


@dataclass
class Inventory:
    as_of: datetime
    org: str
    days: int
    models: list[FineTunedModel]
    openai: str  # "read" | "not_configured" | "unavailable: ..." | "skipped"
    unresolved: list[str] = field(default_factory=list)


def read_openai(settings: Settings) -> OpenAIView:
    gateway = OpenAIGateway(settings)

    async def work(client: OpenAIClient) -> OpenAIView:
        models = [m.id for m in await client.list_models()]
        jobs = {
            job.fine_tuned_model: job
            async for job in client.iter_jobs()
            if job.fine_tuned_model and job.status == "succeeded"
        }
        return OpenAIView(models=models, jobs=jobs)

    return gateway.run(work)


def build_inventory(
    session: Session,
    *,
    org: str,
    now: datetime,
    days: int,
    settings: Settings,
    openai: OpenAIView | None = None,
    ask_openai: bool = True,
) -> Inventory:
    reference = load_reference(session)
    as_of = now.date()
    found: dict[str, FineTunedModel] = {}
    unresolved: list[str] = []

    def entry(name: str, source: str) -> FineTunedModel | None:
        key = name.lower()
        if key in found:
            found[key].sources.add(source)
            return found[key]
        try:
            resolved = reference.catalogue.resolve(name, as_of=as_of)
        except PricingError:
            if name not in unresolved:
                unresolved.append(name)
            return None
        status = reference.lifecycle.status(resolved.model, as_of=as_of, fine_tuned=True)
        found[key] = FineTunedModel(name=name, resolved=resolved, status=status, sources={source})
        return found[key]

    for job in session.exec(
        select(Job).where(col(Job.fine_tuned_model).is_not(None)).order_by(col(Job.created_at))
    ):
        assert job.fine_tuned_model is not None
        item = entry(job.fine_tuned_model, SOURCE_JOBS)
        if item is None:
            continue
        item.job_id = job.openai_job_id or job.id
        item.method = item.method or _job_method(job.hyperparameters, job.estimate)
        item.trained_tokens = job.trained_tokens
        if job.actual_cost_usd is not None:
            item.training_cost_usd, item.training_cost_basis = job.actual_cost_usd, "actual"
        elif job.estimated_cost_usd is not None:
            item.training_cost_usd, item.training_cost_basis = job.estimated_cost_usd, "estimated"

    openai_state = "skipped"
    if openai is None and ask_openai:
        openai, openai_state = _try_openai(settings)
    if openai is not None:
        openai_state = "read"
        for name in openai.models:
            entry(name, SOURCE_OPENAI)
        for name, remote in openai.jobs.items():
            item = entry(name, SOURCE_OPENAI)
            if item is None:
                continue
            item.job_id = item.job_id or remote.id
            item.method = item.method or _method_of(remote)
            if item.trained_tokens is None:
                item.trained_tokens = remote.trained_tokens
            if item.training_cost_usd is None:
                item.training_cost_usd = _computed_cost(reference, item, remote)
                if item.training_cost_usd is not None:
                    item.training_cost_basis = "computed"

    for name, traffic in fine_tuned_traffic(session, org=org, now=now, days=days).items():
        item = entry(name, SOURCE_USAGE)
        if item is not None:
            item.traffic = traffic

    for item in found.values():
        item.method = item.method or "supervised"
    models = sorted(
        found.values(),
        key=lambda m: (
            m.status.days_left is None,
            m.status.days_left if m.status.days_left is not None else 0,
            m.name.lower(),
        ),
    )
    return Inventory(
        as_of=now, org=org, days=days, models=models, openai=openai_state, unresolved=unresolved
    )


def find_model(inventory: Inventory, name: str) -> FineTunedModel | None:
    key = name.strip().lower()
    return next((m for m in inventory.models if m.name.lower() == key), None)


def _try_openai(settings: Settings) -> tuple[OpenAIView | None, str]:
    if settings.openai_api_key is None:
        return None, "not_configured"
    try:
        return read_openai(settings), "read"
    except (OpenAIError, ServiceError) as exc:
        log.warning("planning inventory: OpenAI could not be read: %s", exc)
        return None, f"unavailable: {type(exc).__name__}"


def _method_of(job: FineTuningJob) -> str:
    method = job.method or {}
    kind = method.get("type")
    return kind if isinstance(kind, str) and kind else "supervised"


def _job_method(
    hyperparameters: dict[str, object], estimate: dict[str, object] | None
) -> str | None:
    for source in (estimate or {}, hyperparameters):
        value = source.get("method")
        if isinstance(value, str) and value:
            return value
    return None


def _computed_cost(
    reference: Reference, item: FineTunedModel, job: FineTuningJob
) -> Decimal | None:
    """Training cost from OpenAI's trained tokens (already multiplied by the epochs)."""
    if not job.trained_tokens or (item.method or "supervised") != "supervised":
        return None
    finished = datetime.fromtimestamp(job.finished_at or job.created_at, tz=UTC).date()
    try:
        base = reference.catalogue.resolve(item.base, as_of=finished)
        return estimate_training(
            model=base,
            book=reference.book,
            as_of=finished,
            billing_tokens=job.trained_tokens,
            n_epochs=1,
            overrides=reference.overrides,
        ).cost_usd
    except PricingError:
        return None
