"""Running a training job: the use case between a Job and a training backend."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from receipts.application.ports.training_backend import (
    TrainingBackend,
    TrainingCancelled,
    TrainingFailed,
    TrainingInterrupted,
    TrainingSpec,
)
from receipts.application.training.jobs import Jobs
from receipts.application.training.leases import LeaseKeeper, LeaseTerms
from receipts.domain.job import JobStatus
from receipts.domain.job_log import LogEntry, LogLevel
from receipts.domain.job_metric import Evaluation


class JobReporter:
    """What a backend reports, recorded on the job as it happens.

    With `attempt`, the reporter belongs to that attempt: `cancelled` is also true once the
    attempt was ended elsewhere (a sweep or an operator interrupted it, a later attempt
    took over), so a trainer that outlived its lease stops. With `lease`, each whole
    checkpoint is recorded on the attempt's lease."""

    def __init__(
        self,
        jobs: Jobs,
        job_id: UUID,
        *,
        attempt: int | None = None,
        lease: LeaseKeeper | None = None,
    ) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.attempt = attempt
        self.lease = lease

    def evaluation(self, evaluation: Evaluation) -> None:
        self.jobs.record_evaluation(self.job_id, evaluation)

    def log(self, message: str, level: LogLevel = "info", **data: Any) -> None:
        self.jobs.append_log(self.job_id, LogEntry(message=message, level=level, data=data))

    def run_config(self, data: dict[str, Any]) -> None:
        self.jobs.append_log(
            self.job_id, LogEntry(kind="run_config", message="run config", data=data)
        )

    def checkpoint(self, uri: str) -> None:
        if self.lease is not None:
            self.lease.renew(checkpoint_uri=uri)

    def cancelled(self) -> bool:
        job = self.jobs.get_job(self.job_id)
        if job.status is JobStatus.CANCELLED:
            return True
        return self.attempt is not None and (
            job.status is not JobStatus.RUNNING or job.attempts != self.attempt
        )


def run_training(
    jobs: Jobs, job_id: UUID, backend: TrainingBackend, *, lease: LeaseTerms | None = None
) -> JobStatus:
    """Starts (or resumes) the job, trains it, and ends it succeeded, failed or interrupted.

    Whatever the backend raises, the job never stays running: the attempt holds a lease
    (`lease`, 5 minutes by default) renewed while it trains, so a trainer killed outright
    leaves a job that `leases.sweep` ends. The attempt's end is fenced: when the job was
    cancelled or interrupted meanwhile, that end wins and its status is returned.
    """
    terms = lease or LeaseTerms()
    job = jobs.start_attempt(job_id, terms.holder, terms.clock(), terms.seconds)
    attempt = job.attempts
    spec = TrainingSpec(
        job_id=job.id,
        job_name=job.name,
        config=job.config,
        resume_from_uri=job.resume_checkpoint_uri,
    )
    keeper = LeaseKeeper(jobs, job_id, attempt, terms)
    reporter = JobReporter(jobs, job_id, attempt=attempt, lease=keeper)
    with keeper:
        return _train(jobs, job_id, attempt, backend, spec, reporter)


def _train(
    jobs: Jobs,
    job_id: UUID,
    attempt: int,
    backend: TrainingBackend,
    spec: TrainingSpec,
    reporter: JobReporter,
) -> JobStatus:
    try:
        results = backend.train(spec, reporter)
    except TrainingInterrupted as stop:
        checkpoint, why = stop.checkpoint_uri, stop.reason
        status = jobs.end_attempt(job_id, attempt, lambda job: job.interrupt(checkpoint, why))
        reporter.log(f"interrupted: {why}", "warning", checkpoint_uri=checkpoint)
        return status
    except TrainingCancelled:
        status = jobs.get_job(job_id).status
        reporter.log(f"training stopped: job {status.value}", "warning")
        return status
    except Exception as error:
        reason = (
            str(error) if isinstance(error, TrainingFailed) else f"{type(error).__name__}: {error}"
        )
        status = jobs.end_attempt(job_id, attempt, lambda job: job.fail(reason))
        _summary(jobs, job_id, JobStatus.FAILED, reason=reason)
        return status
    if not math.isfinite(results.best_f1):
        return jobs.end_attempt(
            job_id, attempt, lambda job: job.fail("best F1 is not a finite number")
        )
    status = jobs.end_attempt(job_id, attempt, lambda job: job.succeed(results))
    if status is JobStatus.SUCCEEDED:
        _summary(jobs, job_id, JobStatus.SUCCEEDED, results=results.model_dump(mode="json"))
    return status


def _summary(jobs: Jobs, job_id: UUID, status: JobStatus, **data: Any) -> None:
    best = max(jobs.evaluations_of(job_id), key=lambda e: e.f1, default=None)
    jobs.append_log(
        job_id,
        LogEntry(
            kind="run_summary",
            level="info" if status is JobStatus.SUCCEEDED else "error",
            message=f"run {status.value}",
            data={
                "status": status.value,
                "best_f1": best.f1 if best else None,
                "best_epoch": best.epoch if best else None,
                **data,
            },
        ),
    )
