"""Launching a fine-tuning job: record first, estimate the real file, check the budget, create once.

Order matters for money and for duplicates:

0. Nothing reaches OpenAI for a job OpenAI will not accept on the day (fine-tuning of the model
   or method closed, the model shut down, the platform-wide end of fine-tuning): that is refused
   first, with the date and OpenAI's replacement (:mod:`service.jobs.launch_checks`).
1. The launch row is committed first (status ``launching``); its id goes to OpenAI as
   ``metadata.ratecard_launch_id``, so the job can always be traced back to the launch.
2. The training file is streamed from the Files API to a temp file and analysed with the
   pricing core: format errors (with line numbers) or fewer than 10 examples stop the launch.
3. The estimate is priced and checked against the team's monthly budget while holding the budget
   row, so concurrent launches cannot both squeeze under it.
4. The job is created exactly once. A create whose outcome is unknown (timeout, 5xx) is never
   retried blindly: jobs are listed by the launch id and the job adopted if it exists; otherwise
   the launch is left ``launch_unknown`` and a repeat with the same Idempotency-Key reconciles
   again before it creates anything.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from pricing.catalogue import ResolvedModel
from pricing.errors import PricingError
from pricing.money import format_usd
from service.auth.service import Principal
from service.db import session_scope
from service.errors import Forbidden, ServiceError
from service.jobs.budgets import BudgetStatus, budget_status, month_of
from service.jobs.errors import IdempotencyKeyReused, LaunchOutcomeUnknown, OverBudget, from_openai
from service.jobs.gateway import OpenAIGateway
from service.jobs.launch_checks import FileEstimate, check_launchable, estimate_training_file
from service.jobs.models import LAUNCH_FAILED, LAUNCH_UNKNOWN, LAUNCHING, SOURCE_LAUNCH, Job
from service.jobs.reconcile import adopt, error_of, find_launched, mark_ended, replay
from service.jobs.schemas import BudgetCheckOut, JobIn, JobOut, PreviewOut
from service.jobs.service import LAUNCH_METADATA_KEY, add_note, find_job, new_job_id, to_out
from service.openai import FineTuningJob, OpenAICreateOutcomeUnknown, OpenAIError
from service.settings import Settings
from service.types import utcnow

log = logging.getLogger(__name__)


def _budget_out(status: BudgetStatus, amount: Any) -> BudgetCheckOut:
    remaining = status.remaining_usd
    return BudgetCheckOut(
        team=status.team,
        month=status.month.label,
        monthly_budget_usd=None if status.monthly_usd is None else format_usd(status.monthly_usd),
        spent_usd=format_usd(status.spent_usd),
        remaining_usd=None if remaining is None else format_usd(remaining),
        would_exceed=status.would_exceed(amount),
    )


def preview(
    engine: Engine, *, gateway: OpenAIGateway, settings: Settings, body: JobIn, today: date
) -> PreviewOut:
    """The launch's estimate and budget check, without recording or creating anything."""
    launchable = check_launchable(engine, body=body, as_of=today)
    gateway.client()  # fails early, before any work, when OpenAI is not configured
    priced = estimate_training_file(
        engine=engine, gateway=gateway, settings=settings, body=body, as_of=today
    )
    with session_scope(engine) as session:
        status = budget_status(session, team=body.team, month=month_of(utcnow()))
    return PreviewOut(
        estimate=priced.as_dict,
        budget=_budget_out(status, priced.estimate.cost_usd),
        fine_tuning=launchable.out(),
    )


def fingerprint(body: JobIn) -> str:
    return hashlib.sha256(body.fingerprint().encode()).hexdigest()


def launch(
    engine: Engine,
    *,
    gateway: OpenAIGateway,
    settings: Settings,
    body: JobIn,
    principal: Principal,
    idempotency_key: str | None,
    today: date,
) -> tuple[JobOut, bool]:
    """Launch a job; returns (job, created). ``created`` is False when a key replayed a launch."""
    if body.force and not principal.has("admin"):
        raise Forbidden(
            "force launches over budget only with an admin API key", code="force_needs_admin"
        )
    resolved = check_launchable(engine, body=body, as_of=today).model
    gateway.client()
    digest = fingerprint(body)
    job_id: str | None = None
    if idempotency_key is not None:
        with session_scope(engine) as session:
            existing = session.exec(
                select(Job).where(
                    Job.launcher == principal.name, Job.idempotency_key == idempotency_key
                )
            ).first()
            if existing is not None and existing.request_fingerprint != digest:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different launch request; "
                    "use a new key per launch",
                    code="idempotency_key_reused",
                    job_id=existing.id,
                )
            job_id = None if existing is None else existing.id
        if job_id is not None:
            replayed = replay(engine, gateway=gateway, settings=settings, job_id=job_id)
            if replayed is not None:
                return replayed, False
    if job_id is None:
        try:
            job_id = _record_launch(
                engine,
                body=body,
                resolved=resolved,
                principal=principal,
                idempotency_key=idempotency_key,
                digest=digest,
            )
        except IntegrityError:
            # The same key arrived twice at once; the other request owns the launch.
            with session_scope(engine) as session:
                existing = session.exec(
                    select(Job).where(
                        Job.launcher == principal.name, Job.idempotency_key == idempotency_key
                    )
                ).one()
                return to_out(session, existing), False
    return _run_launch(
        engine,
        gateway=gateway,
        settings=settings,
        job_id=job_id,
        body=body,
        principal=principal,
        as_of=today,
    ), True


def _record_launch(
    engine: Engine,
    *,
    body: JobIn,
    resolved: ResolvedModel,
    principal: Principal,
    idempotency_key: str | None,
    digest: str,
) -> str:
    who = body.launched_by or principal.name
    with session_scope(engine) as session:
        job = Job(
            id=new_job_id(),
            source=SOURCE_LAUNCH,
            status=LAUNCHING,
            team=body.team,
            launched_by=who,
            launcher=principal.name,
            idempotency_key=idempotency_key,
            request_fingerprint=digest,
            requested_model=body.model,
            model=resolved.id,
            training_file=body.training_file,
            validation_file=body.validation_file,
            suffix=body.suffix,
            seed=body.seed,
            hyperparameters=body.hyperparameters.model_dump(),
        )
        session.add(job)
        session.flush()
        add_note(
            session,
            job,
            f"Launch requested by {who} (API key {principal.name}) for team {body.team}",
        )
        log.info(
            "launch %s recorded: %s on %s for team %s by %s",
            job.id,
            body.training_file,
            body.model,
            body.team,
            who,
        )
        return job.id


def _run_launch(
    engine: Engine,
    *,
    gateway: OpenAIGateway,
    settings: Settings,
    job_id: str,
    body: JobIn,
    principal: Principal,
    as_of: date,
) -> JobOut:
    stage = "estimate"
    try:
        priced = estimate_training_file(
            engine=engine, gateway=gateway, settings=settings, body=body, as_of=as_of
        )
        stage = "budget"
        _check_budget(engine, job_id=job_id, body=body, priced=priced, principal=principal)
        stage = "create"
        seen = _create(engine, gateway=gateway, job_id=job_id, body=body)
        return adopt(engine, job_id=job_id, seen=seen, how="created")
    except LaunchOutcomeUnknown:
        raise
    except (ServiceError, PricingError) as exc:
        mark_ended(engine, job_id, LAUNCH_FAILED, error_of(exc))
        raise
    except BaseException as exc:
        # After the create was sent, an unexpected failure may hide a real job: reconcile it.
        log.exception("launch %s failed at the %s stage", job_id, stage)
        mark_ended(
            engine, job_id, LAUNCH_UNKNOWN if stage == "create" else LAUNCH_FAILED, error_of(exc)
        )
        raise


def _check_budget(
    engine: Engine, *, job_id: str, body: JobIn, priced: FileEstimate, principal: Principal
) -> None:
    refusal: OverBudget | None = None
    with session_scope(engine) as session:
        job = find_job(session, ref=job_id, lock=True)
        # Write first: on SQLite this takes the database's write lock before the spend is read
        # (pysqlite starts transactions lazily), so concurrent budget checks run one at a time.
        # On PostgreSQL the budget row's FOR UPDATE below serialises launches of the same team.
        job.updated_at = utcnow()
        session.add(job)
        session.flush()
        status = budget_status(
            session, team=body.team, month=month_of(utcnow()), exclude_job_id=job_id, lock=True
        )
        amount = priced.estimate.cost_usd
        job.estimate, job.estimated_cost_usd, job.model = (
            priced.as_dict,
            amount,
            priced.estimate.model,
        )
        session.add(job)
        if status.would_exceed(amount):
            assert status.monthly_usd is not None and status.remaining_usd is not None
            figures = (
                f"estimate ${format_usd(amount)}, already spent ${format_usd(status.spent_usd)} of "
                f"${format_usd(status.monthly_usd)} in {status.month.label}, remaining "
                f"${format_usd(status.remaining_usd)}"
            )
            if body.force:
                add_note(
                    session,
                    job,
                    f"Over team {body.team}'s budget ({figures}); launched anyway, forced with "
                    f"admin key {principal.name}",
                    level="warning",
                )
                log.warning(
                    "launch %s over budget of team %s, forced by %s",
                    job_id,
                    body.team,
                    principal.name,
                )
            else:
                refusal = OverBudget(
                    f"launching would exceed team {body.team}'s monthly training budget: {figures}",
                    code="over_budget",
                    team=body.team,
                    month=status.month.label,
                    estimate_usd=format_usd(amount),
                    monthly_budget_usd=format_usd(status.monthly_usd),
                    spent_usd=format_usd(status.spent_usd),
                    remaining_usd=format_usd(status.remaining_usd),
                )
    if refusal is not None:
        raise refusal


# ratecard's method names -> OpenAI's method.type (the spec's FineTuneMethod).
OPENAI_METHOD_TYPES = {
    "supervised": "supervised",
    "preference": "dpo",
    "reinforcement": "reinforcement",
}


def openai_method(body: JobIn) -> dict[str, Any] | None:
    """The job-create ``method`` object for a preference or reinforcement job; None otherwise."""
    if body.method == "supervised":
        return None
    kind = OPENAI_METHOD_TYPES[body.method]
    hyperparameters = body.hyperparameters.model_dump()
    config: dict[str, Any] = {"hyperparameters": hyperparameters}
    if body.method == "reinforcement":
        config["grader"] = body.grader
    return {"type": kind, kind: config}


def _create(engine: Engine, *, gateway: OpenAIGateway, job_id: str, body: JobIn) -> FineTuningJob:
    metadata = {LAUNCH_METADATA_KEY: job_id}
    method = openai_method(body)
    try:
        return gateway.run(
            lambda client: client.create_job(
                model=body.model,
                training_file=body.training_file,
                # Supervised jobs keep the top-level field, which every model accepts (including
                # babbage-002 and davinci-002); the other methods carry theirs in ``method``.
                hyperparameters=None if method else body.hyperparameters.model_dump(),
                method=method,
                suffix=body.suffix,
                validation_file=body.validation_file,
                metadata=metadata,
                seed=body.seed,
            )
        )
    except OpenAICreateOutcomeUnknown as exc:
        log.warning("launch %s: create outcome unknown (%s); reconciling by launch id", job_id, exc)
        try:
            found = find_launched(gateway, job_id)
        except ServiceError as lookup:
            log.warning("launch %s: reconciliation failed: %s", job_id, lookup.detail)
            found = None
        if found is not None:
            return found
        message = (
            "OpenAI did not confirm the job and it was not found by its launch id; nothing was "
            "retried. "
            "Repeat the request with the same Idempotency-Key to check again before creating"
        )
        mark_ended(
            engine,
            job_id,
            LAUNCH_UNKNOWN,
            {"code": "launch_outcome_unknown", "message": message, "param": None},
        )
        raise LaunchOutcomeUnknown(message, code="launch_outcome_unknown", job_id=job_id) from exc
    except OpenAIError as exc:
        raise from_openai(exc, doing="creating the job") from exc
