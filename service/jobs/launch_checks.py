"""What a launch checks before it creates anything: the model, the date, the file and its price.

The lifecycle check comes first and needs no OpenAI call: a job OpenAI will not accept on the
day (fine-tuning of the model closed, the model shut down, the platform-wide end of fine-tuning)
is refused before the training file is even downloaded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from pricing.catalogue import ResolvedModel
from pricing.datasets import MIN_EXAMPLES, analyse_training_file
from pricing.errors import DatasetError, NotFineTunableError
from pricing.estimate import TrainingEstimate, estimate_training
from pricing.lifecycle import FineTuningVerdict
from pricing.serialize import training_to_dict
from service.db import session_scope
from service.errors import InvalidInput, PayloadTooLarge
from service.estimates.service import dataset_summary, format_errors_out
from service.jobs.errors import FineTuningClosed, FormatErrors, TooFewExamples, from_openai
from service.jobs.gateway import OpenAIGateway
from service.jobs.schemas import FineTuningOut, JobIn
from service.openai import OpenAIClient, OpenAIError
from service.prices.service import catalogue_for, load_reference
from service.settings import Settings

# OpenAI documents no per-item limit for reinforcement items; this only bounds the statistics.
DEFAULT_REINFORCEMENT_LIMIT = 65_536


@dataclass(frozen=True)
class FileEstimate:
    estimate: TrainingEstimate
    as_dict: dict[str, Any]  # training_to_dict fields plus "dataset" statistics


@dataclass(frozen=True)
class Launchable:
    model: ResolvedModel
    verdict: FineTuningVerdict

    def out(self) -> FineTuningOut:
        return FineTuningOut(
            method=self.verdict.method,
            last_day=self.verdict.last_day,
            days_left=self.verdict.days_left,
            replacement=self.verdict.replacement,
            warnings=list(self.verdict.warnings),
        )


def check_launchable(engine: Engine, *, body: JobIn, as_of: date) -> Launchable:
    """The resolved model, or a refusal naming the date and OpenAI's replacement. No I/O."""
    with session_scope(engine) as session:
        reference = load_reference(session)
    resolved = reference.catalogue.resolve(body.model, as_of=as_of)
    if not resolved.model.fine_tunable:
        raise NotFineTunableError(f"{resolved.id} cannot be fine-tuned")
    if body.method == "reinforcement" and body.grader is None:
        raise InvalidInput(
            "reinforcement fine-tuning needs a grader (OpenAI's method.reinforcement.grader)",
            code="grader_required",
            param="grader",
        )
    if body.method == "reinforcement" and body.training_hours is None:
        raise InvalidInput(
            "reinforcement fine-tuning is billed per hour of training: give training_hours, "
            "your assumption of the run's duration, so the launch can be priced and budgeted",
            code="training_hours_required",
            param="training_hours",
        )
    verdict = reference.lifecycle.fine_tuning(resolved.model, method=body.method, as_of=as_of)
    if not verdict.accepted:
        raise FineTuningClosed(
            f"OpenAI will not accept this job on {as_of.isoformat()}: {verdict.reason}",
            code="fine_tuning_closed",
            model=resolved.id,
            method=body.method,
            as_of=as_of.isoformat(),
            replacement=verdict.replacement,
        )
    return Launchable(resolved, verdict)


def _download(*, gateway: OpenAIGateway, settings: Settings, body: JobIn, path: Path) -> None:
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
        _download(gateway=gateway, settings=settings, body=body, path=path)
        with session_scope(engine) as session:
            catalogue = catalogue_for(session)
        try:
            resolved = catalogue.resolve(body.model, as_of=as_of)
            limit = resolved.model.training_example_limit
            stats = analyse_training_file(
                path,
                encoding_name=resolved.encoding,
                # Reinforcement models have no per-example token limit in the catalogue.
                max_tokens_per_example=limit or DEFAULT_REINFORCEMENT_LIMIT,
                method=body.method,
            )
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
        reference = load_reference(session)
    estimate = estimate_training(
        model=reference.catalogue.resolve(body.model, as_of=as_of),
        book=reference.book,
        as_of=as_of,
        billing_tokens=stats.billing_tokens,
        n_examples=stats.n_examples,
        n_epochs=body.hyperparameters.n_epochs,
        overrides=reference.overrides,
        warnings=tuple(stats.warnings),
        method=body.method,
        training_hours=body.training_hours,
        lifecycle=reference.lifecycle,
    )
    return FileEstimate(estimate, {**training_to_dict(estimate), "dataset": dataset_summary(stats)})
