"""Launching a fine-tuning job: record first, estimate the real file, check the budget, create once.

Order matters for money and for duplicates:

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
import os
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from pricing.catalogue import ResolvedModel
from pricing.datasets import MIN_EXAMPLES
from pricing.errors import DatasetError, NotFineTunableError, PricingError
from pricing.estimate import TrainingEstimate
from pricing.money import format_usd
from pricing.serialize import training_to_dict
from service.auth.service import Principal
from service.db import session_scope
from service.errors import Forbidden, InvalidInput, PayloadTooLarge, ServiceError
from service.estimates.service import (
    analyse_file,
    dataset_summary,
    format_errors_out,
    price_training,
)
from service.jobs.budgets import BudgetStatus, budget_status, month_of
from service.jobs.costs import PricingContext
from service.jobs.errors import (
    FormatErrors,
    IdempotencyKeyReused,
    LaunchOutcomeUnknown,
    OverBudget,
    TooFewExamples,
    from_openai,
)
from service.jobs.gateway import OpenAIGateway
from service.jobs.models import LAUNCH_FAILED, LAUNCH_UNKNOWN, LAUNCHING, SOURCE_LAUNCH, Job
from service.jobs.schemas import BudgetCheckOut, JobIn, JobOut, PreviewOut
from service.jobs.service import (
    LAUNCH_METADATA_KEY,
    add_note,
    apply_observation,
    find_job,
    new_job_id,
    to_out,
)
from service.openai import FineTuningJob, OpenAIClient, OpenAICreateOutcomeUnknown, OpenAIError
from service.prices.service import catalogue_for, load_reference
from service.settings import Settings
from service.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileEstimate:
    estimate: TrainingEstimate
    as_dict: dict[str, Any]  # training_to_dict fields plus "dataset" statistics


def resolve_fine_tunable(engine: Engine, *, model: str, as_of: date) -> ResolvedModel:
    with session_scope(engine) as session:
        resolved = catalogue_for(session).resolve(model, as_of=as_of)
    if not resolved.model.fine_tunable:
        raise NotFineTunableError(f"{resolved.id} cannot be fine-tuned")
    return resolved


def estimate_training_file(
    *, engine: Engine, gateway: OpenAIGateway, settings: Settings, body: JobIn, as_of: date
) -> FileEstimate:
    """Stream the training file from OpenAI to a temp file, analyse it and price the run."""
    folder = settings.upload_dir or Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="ratecard-launch-", suffix=".jsonl", dir=folder)
    os.close(fd)
    path = Path(name)
    try:

        async def fetch(client: OpenAIClient) -> tuple[int | None, str | None, bool]:
            meta = await client.retrieve_file(body.training_file)
            too_big = meta.bytes is not None and meta.bytes > settings.max_upload_bytes
            wrong_purpose = meta.purpose is not None and meta.purpose != "fine-tune"
            if too_big or wrong_purpose:
                return meta.bytes, meta.purpose, False
            await client.download_file(body.training_file, path)
            return meta.bytes, meta.purpose, True

        try:
            size, purpose, downloaded = gateway.run(fetch)
        except OpenAIError as exc:
            raise from_openai(exc, doing="downloading the training file") from exc
        if not downloaded and size is not None and size > settings.max_upload_bytes:
            raise PayloadTooLarge(
                f"{body.training_file} is {size:,} bytes; ratecard analyses training files of up "
                f"to {settings.max_upload_bytes:,} bytes",
                code="training_file_too_large",
            )
        if not downloaded:
            raise InvalidInput(
                f"{body.training_file} was uploaded with purpose {purpose!r}; fine-tuning needs a "
                "file uploaded with purpose 'fine-tune'",
                code="wrong_file_purpose",
            )
        with session_scope(engine) as session:
            catalogue = catalogue_for(session)
        try:
            stats = analyse_file(catalogue=catalogue, path=path, model=body.model, as_of=as_of)
        except DatasetError as exc:
            # The message names the server's temporary copy; the caller knows the file by its id.
            message = str(exc).replace(str(path), body.training_file)
            if body.training_file not in message:
                message = f"{body.training_file}: {message}"
            raise DatasetError(message) from None
    finally:
        path.unlink(missing_ok=True)
    if stats.format_errors:
        errors = format_errors_out(stats)
        raise FormatErrors(
            f"{body.training_file}: " + "; ".join(e["message"] for e in errors),
            code="format_errors",
            format_errors=errors,
        )
    if stats.n_examples < MIN_EXAMPLES:
        raise TooFewExamples(
            f"{body.training_file} has {stats.n_examples} example(s); OpenAI needs at least "
            f"{MIN_EXAMPLES} to fine-tune",
            code="too_few_examples",
            n_examples=stats.n_examples,
            min_examples=MIN_EXAMPLES,
        )
    with session_scope(engine) as session:
        estimate = price_training(
            load_reference(session),
            model=body.model,
            as_of=as_of,
            n_epochs=body.hyperparameters.n_epochs,
            tokens=stats.billing_tokens,
            n_examples=stats.n_examples,
            warnings=tuple(stats.warnings),
        )
    return FileEstimate(estimate, {**training_to_dict(estimate), "dataset": dataset_summary(stats)})


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
    engine: Engine, *, gateway: OpenAIGateway, settings: Settings, body: JobIn
) -> PreviewOut:
    """The launch's estimate and budget check, without recording or creating anything."""
    today = utcnow().date()
    resolve_fine_tunable(engine, model=body.model, as_of=today)
    gateway.client()  # fails early, before any work, when OpenAI is not configured
    priced = estimate_training_file(
        engine=engine, gateway=gateway, settings=settings, body=body, as_of=today
    )
    with session_scope(engine) as session:
        status = budget_status(session, team=body.team, month=month_of(utcnow()))
    return PreviewOut(estimate=priced.as_dict, budget=_budget_out(status, priced.estimate.cost_usd))


def fingerprint(body: JobIn) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def launch(
    engine: Engine,
    *,
    gateway: OpenAIGateway,
    settings: Settings,
    body: JobIn,
    principal: Principal,
    idempotency_key: str | None,
) -> tuple[JobOut, bool]:
    """Launch a job; returns (job, created). ``created`` is False when a key replayed a launch."""
    if body.force and not principal.has("admin"):
        raise Forbidden(
            "force launches over budget only with an admin API key", code="force_needs_admin"
        )
    today = utcnow().date()
    resolved = resolve_fine_tunable(engine, model=body.model, as_of=today)
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
            replayed = _replay(engine, gateway=gateway, settings=settings, job_id=job_id)
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


def _is_stale(job: Job, settings: Settings) -> bool:
    return utcnow() - job.updated_at > timedelta(seconds=settings.launch_stale_seconds)


def _replay(
    engine: Engine, *, gateway: OpenAIGateway, settings: Settings, job_id: str
) -> JobOut | None:
    """The earlier launch with this key, or None when it must run again (nothing upstream)."""
    with session_scope(engine) as session:
        job = find_job(session, ref=job_id)
        if job.openai_job_id is not None or (
            job.status == LAUNCHING and not _is_stale(job, settings)
        ):
            return to_out(session, job)
        previous = job.status
    if previous in (LAUNCH_UNKNOWN, LAUNCHING):
        found = find_launched(gateway, job_id)
        if found is not None:
            return adopt(
                engine,
                job_id=job_id,
                seen=found,
                how="found by its launch id on a repeated request",
            )
    # Nothing upstream: claim the launch for this request (a concurrent repeat loses the race and
    # gets the record as it stands).
    now = utcnow()
    with session_scope(engine) as session:
        claimed = (
            session.connection()
            .execute(
                update(Job)
                .where(
                    col(Job.id) == job_id,
                    col(Job.status) == previous,
                    col(Job.openai_job_id).is_(None),
                )
                .values(status=LAUNCHING, error=None, updated_at=now, created_at=now)
            )
            .rowcount
        )
        if claimed != 1:
            return to_out(session, find_job(session, ref=job_id))
        add_note(
            session,
            find_job(session, ref=job_id),
            f"Launch retried with the same Idempotency-Key (was {previous})",
        )
    return None


def find_launched(gateway: OpenAIGateway, launch_id: str) -> FineTuningJob | None:
    """The OpenAI job carrying this launch id in its metadata, if any (the oldest if several)."""
    try:
        page = gateway.run(
            lambda client: client.list_jobs(metadata={LAUNCH_METADATA_KEY: launch_id}, limit=10)
        )
    except OpenAIError as exc:
        raise from_openai(exc, doing="looking for the job of an unconfirmed launch") from exc
    if len(page.data) > 1:
        log.error(
            "launch %s has %d OpenAI jobs (%s); adopting the oldest",
            launch_id,
            len(page.data),
            ", ".join(j.id for j in page.data),
        )
    return page.data[-1] if page.data else None


def adopt(engine: Engine, *, job_id: str, seen: FineTuningJob, how: str) -> JobOut:
    with session_scope(engine) as session:
        job = find_job(session, ref=job_id, lock=True)
        if job.openai_job_id is None:
            add_note(session, job, f"OpenAI job {seen.id} {how}")
            log.info("launch %s adopted OpenAI job %s (%s)", job_id, seen.id, how)
        apply_observation(session, job, seen, pricing=PricingContext(session))
        session.flush()
        return to_out(session, job)


def _mark(engine: Engine, job_id: str, status: str, error: dict[str, Any]) -> None:
    """Record the launch's end without a job; never touches a launch that did get an OpenAI job."""
    try:
        with session_scope(engine) as session:
            session.connection().execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.openai_job_id).is_(None))
                .values(status=status, error=error, updated_at=utcnow())
            )
            job = session.get(Job, job_id)
            if job is not None:
                add_note(session, job, f"{status}: {error.get('message')}", level="error")
    except Exception:
        log.exception("launch %s: could not record %s", job_id, status)


def _error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ServiceError):
        return {
            "code": exc.extra.get("code") or type(exc).__name__,
            "message": exc.detail,
            "param": exc.extra.get("param"),
        }
    if isinstance(exc, PricingError):
        return {"code": type(exc).__name__, "message": str(exc), "param": None}
    return {
        "code": "internal_error",
        "message": "the launch stopped on an unexpected error; it has been logged",
        "param": None,
    }


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
        _mark(engine, job_id, LAUNCH_FAILED, _error_of(exc))
        raise
    except BaseException as exc:
        # After the create was sent, an unexpected failure may hide a real job: reconcile it.
        log.exception("launch %s failed at the %s stage", job_id, stage)
        _mark(
            engine, job_id, LAUNCH_UNKNOWN if stage == "create" else LAUNCH_FAILED, _error_of(exc)
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


def _create(engine: Engine, *, gateway: OpenAIGateway, job_id: str, body: JobIn) -> FineTuningJob:
    metadata = {LAUNCH_METADATA_KEY: job_id}
    try:
        return gateway.run(
            lambda client: client.create_job(
                model=body.model,
                training_file=body.training_file,
                hyperparameters=body.hyperparameters.model_dump(),
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
        _mark(
            engine,
            job_id,
            LAUNCH_UNKNOWN,
            {"code": "launch_outcome_unknown", "message": message, "param": None},
        )
        raise LaunchOutcomeUnknown(message, code="launch_outcome_unknown", job_id=job_id) from exc
    except OpenAIError as exc:
        raise from_openai(exc, doing="creating the job") from exc
