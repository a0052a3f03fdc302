"""How a fine-tuning job moves on its own: ``validating_files -> queued -> running ->
succeeded`` (or ``failed``), with its events and checkpoints.

Each state lasts ``durations[state]`` on the injectable clock. Progress is computed lazily
whenever a job is read, every transition stamped with its own time, so results do not depend
on when anyone looks. While running, a checkpoint appears at the end of each epoch but the
last; the last epoch's checkpoint appears with success, named
``<fine_tuned_model>:ckpt-step-<N>``. On success ``trained_tokens`` = billing tokens of the
training file x epochs.
"""

from __future__ import annotations

import math
from typing import Any

from service.fakes.openai.core import new_id
from service.fakes.openai.errors import FakeOpenAIError
from service.fakes.openai.files import FilesMixin
from service.fakes.openai.models import ModelsMixin, base_model_of
from service.fakes.openai.records import FakeCheckpoint, FakeEvent, FakeJob
from service.fakes.openai.training import (
    InvalidTrainingFile,
    analyse_training_file,
    resolve_hyperparameters,
)

__all__ = ["TERMINAL_STATUSES", "JobLifecycle"]

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
_FINAL_TRAIN_LOSS = 0.1234


class JobLifecycle(ModelsMixin, FilesMixin):
    def job(self, job_id: str) -> FakeJob:
        """The job record, progressed to the clock's current time."""
        with self._lock:
            job = self._get_job(job_id)
            self._advance(job)
            return job

    @property
    def jobs(self) -> list[FakeJob]:
        """All jobs, oldest first, progressed to now."""
        with self._lock:
            self.progress_jobs()
            return list(self._job_order)

    def progress_jobs(self) -> None:
        with self._lock:
            for job in self._job_order:
                self._advance(job)

    def _get_job(self, job_id: str, *, param: str = "fine_tuning_job_id") -> FakeJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            status = 400 if param == "after" else 404
            raise FakeOpenAIError(
                status, f"No such fine-tuning job: {job_id}", param=param
            ) from None

    def _emit(
        self,
        job: FakeJob,
        at: float,
        message: str,
        *,
        level: str = "info",
        type: str = "message",  # OpenAI's field name
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            FakeEvent(
                id=new_id("ftevent-", 24),
                created_at=int(at),
                level=level,
                message=message,
                type=type,
                data=data or {},
            )
        )

    def _fine_tuned_model_name(self, job: FakeJob) -> str:
        base = base_model_of(job.model).id
        return f"ft:{base}:{self.organization_name}:{job.suffix or ''}:{job.id[-8:]}"

    def _advance(self, job: FakeJob) -> None:
        """Apply every transition whose time has come, stamped with its own time."""
        now = self.clock()
        if job.status == "validating_files" and now >= job.queued_at:
            try:
                analysis = analyse_training_file(
                    self._files[job.training_file].content,
                    base_model_of(job.model),
                    count=self.count_text_tokens,
                    min_examples=self.min_training_examples,
                )
            except InvalidTrainingFile as exc:
                error = {
                    "code": "invalid_training_file",
                    "message": f"The job failed due to an invalid training file. {exc}",
                    "param": "training_file",
                }
                self._finish_failed(job, error, job.queued_at)
                return
            job.n_examples = analysis.n_examples
            job.billing_tokens = analysis.billing_tokens
            job.hyperparameters = resolve_hyperparameters(job.hyperparameters, analysis)
            job.status = "queued"
            self._emit(job, job.queued_at, "Files validated, moving job to queued state")
        if job.status == "queued" and now >= job.running_at:
            job.status = "running"
            self._emit(job, job.running_at, "Fine-tuning job started")
        if job.status == "running":
            self._add_epoch_checkpoints(job, min(now, job.finishes_at), final=False)
        if job.status == "running" and now >= job.finishes_at:
            if job.planned_error is not None:
                self._finish_failed(job, job.planned_error, job.finishes_at)
            else:
                self._finish_succeeded(job)

    def _steps(self, job: FakeJob) -> tuple[int, int]:
        """(steps per epoch, epochs) once the file is validated."""
        n_epochs = int(job.hyperparameters["n_epochs"])
        batch_size = int(job.hyperparameters["batch_size"])
        return max(1, math.ceil((job.n_examples or 0) / batch_size)), n_epochs

    def _add_epoch_checkpoints(self, job: FakeJob, until: float, *, final: bool) -> None:
        """Checkpoints of the epochs ended by ``until``; the last epoch's only if ``final``."""
        steps_per_epoch, n_epochs = self._steps(job)
        epoch_seconds = (job.finishes_at - job.running_at) / n_epochs
        last = n_epochs if final else n_epochs - 1
        for epoch in range(len(job.checkpoints) + 1, last + 1):
            at = job.finishes_at if epoch == n_epochs else job.running_at + epoch * epoch_seconds
            if at > until:
                break
            step = steps_per_epoch * epoch
            # A loss falling towards the final one reported in the metrics event.
            loss = round(_FINAL_TRAIN_LOSS * n_epochs / epoch, 4)
            job.checkpoints.append(
                FakeCheckpoint(
                    id=new_id("ftckpt_", 24),
                    job_id=job.id,
                    created_at=int(at),
                    step_number=step,
                    fine_tuned_model_checkpoint=(
                        f"{self._fine_tuned_model_name(job)}:ckpt-step-{step}"
                    ),
                    metrics={"step": float(step), "train_loss": loss},
                )
            )

    def _finish_succeeded(self, job: FakeJob) -> None:
        at = job.finishes_at
        steps_per_epoch, n_epochs = self._steps(job)
        job.trained_tokens = (job.billing_tokens or 0) * n_epochs
        total_steps = steps_per_epoch * n_epochs
        job.fine_tuned_model = self._fine_tuned_model_name(job)
        self._add_epoch_checkpoints(job, at, final=True)
        results_id = self.store_result_file(
            "step_metrics.csv",
            f"step,train_loss\n{total_steps},{_FINAL_TRAIN_LOSS}\n".encode(),
            int(at),
        )
        job.result_files = [results_id]
        job.status = "succeeded"
        job.finished_at = int(at)
        self._emit(
            job,
            at,
            f"Step {total_steps}/{total_steps}: training loss={_FINAL_TRAIN_LOSS}",
            type="metrics",
            data={
                "step": total_steps,
                "total_steps": total_steps,
                "train_loss": _FINAL_TRAIN_LOSS,
            },
        )
        self._emit(job, at, f"New fine-tuned model created: {job.fine_tuned_model}")
        self._emit(job, at, "The job has successfully completed")

    def _finish_failed(self, job: FakeJob, error: dict[str, Any], at: float) -> None:
        job.status = "failed"
        job.error = dict(error)
        job.finished_at = int(at)
        self._emit(job, at, str(error.get("message") or "The job failed"), level="error")
