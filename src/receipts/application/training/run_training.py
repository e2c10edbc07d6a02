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
from receipts.domain.job import JobStatus
from receipts.domain.job_log import LogEntry, LogLevel
from receipts.domain.job_metric import Evaluation


class JobReporter:
    """What a backend reports, recorded on the job as it happens."""

    def __init__(self, jobs: Jobs, job_id: UUID) -> None:
        self.jobs = jobs
        self.job_id = job_id

    def evaluation(self, evaluation: Evaluation) -> None:
        self.jobs.record_evaluation(self.job_id, evaluation)

    def log(self, message: str, level: LogLevel = "info", **data: Any) -> None:
        self.jobs.append_log(self.job_id, LogEntry(message=message, level=level, data=data))

    def run_config(self, data: dict[str, Any]) -> None:
        self.jobs.append_log(
            self.job_id, LogEntry(kind="run_config", message="run config", data=data)
        )

    def cancelled(self) -> bool:
        return self.jobs.get_job(self.job_id).status is JobStatus.CANCELLED


def run_training(jobs: Jobs, job_id: UUID, backend: TrainingBackend) -> JobStatus:
    """Starts (or resumes) the job, trains it, and ends it succeeded, failed or interrupted.

    Whatever the backend raises, the job never stays running.
    """
    job = jobs.get_job(job_id)
    spec = TrainingSpec(
        job_id=job.id,
        job_name=job.name,
        config=job.config,
        resume_from_uri=job.resume_checkpoint_uri,
    )
    job.start()  # as jobs.start_job(job_id), on the job just read
    jobs.save(job)
    reporter = JobReporter(jobs, job_id)
    try:
        results = backend.train(spec, reporter)
    except TrainingInterrupted as stop:
        jobs.interrupt_job(job_id, stop.checkpoint_uri, stop.reason)
        reporter.log(f"interrupted: {stop.reason}", "warning", checkpoint_uri=stop.checkpoint_uri)
        return JobStatus.INTERRUPTED
    except TrainingCancelled:
        reporter.log("training stopped: job cancelled", "warning")
        return jobs.get_job(job_id).status
    except Exception as error:
        reason = (
            str(error) if isinstance(error, TrainingFailed) else f"{type(error).__name__}: {error}"
        )
        if jobs.get_job(job_id).status is JobStatus.RUNNING:
            jobs.fail_job(job_id, reason)
        _summary(jobs, job_id, JobStatus.FAILED, reason=reason)
        return JobStatus.FAILED
    if not math.isfinite(results.best_f1):
        jobs.fail_job(job_id, "best F1 is not a finite number")
        return JobStatus.FAILED
    job = jobs.get_job(job_id)
    if job.status is JobStatus.CANCELLED:
        return JobStatus.CANCELLED
    job.succeed(results)
    jobs.save(job)
    _summary(jobs, job_id, JobStatus.SUCCEEDED, results=results.model_dump(mode="json"))
    return JobStatus.SUCCEEDED


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
