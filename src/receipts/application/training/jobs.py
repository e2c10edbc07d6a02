"""The Jobs application: training jobs, their metric series and their logs."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from receipts.application.event_sourcing.conflicts import retry_on_conflict
from receipts.application.event_sourcing.persistence import PydanticApplication
from receipts.domain.errors import DuplicateJobName, JobNotFound
from receipts.domain.job import Job, JobDraft, JobResults, JobStatus
from receipts.domain.job_log import JobLog, LogEntry
from receipts.domain.job_metric import Evaluation, JobMetric
from receipts.domain.job_name import JobName

TrainingStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
"""A training backend's status of a job, in SageMaker's words."""
StatusApplied = Literal["succeeded", "failed", "cancelled", "started", "unchanged", "ignored"]


class Jobs(PydanticApplication):
    name = "Jobs"

    def create_job(self, draft: JobDraft) -> UUID:
        """Records a pending job; refuses a taken name."""
        job = Job(draft=draft)
        index = JobName(name=draft.name, job_id=job.id)
        try:
            self.save(job, index)
        except IntegrityError:
            raise DuplicateJobName(draft.name) from None
        return job.id

    def get_job(self, job_id: UUID) -> Job:
        try:
            job: Job = self.repository.get(job_id)
        except AggregateNotFoundError:
            raise JobNotFound(job_id) from None
        return job

    def get_job_by_name(self, name: str) -> Job:
        try:
            index: JobName = self.repository.get(JobName.id_for(name))
        except AggregateNotFoundError:
            raise JobNotFound(name) from None
        return self.get_job(index.job_id)

    def find_job(self, key: str | UUID) -> Job:
        """A job by its id or, failing that, by its name."""
        if isinstance(key, UUID):
            return self.get_job(key)
        try:
            return self.get_job(UUID(key))
        except (ValueError, JobNotFound):
            return self.get_job_by_name(key)

    def start_job(self, job_id: UUID) -> None:
        job = self.get_job(job_id)
        job.start()
        self.save(job)

    def succeed_job(self, job_id: UUID, results: JobResults) -> None:
        job = self.get_job(job_id)
        job.succeed(results)
        self.save(job)

    def fail_job(self, job_id: UUID, reason: str) -> None:
        job = self.get_job(job_id)
        job.fail(reason)
        self.save(job)

    def cancel_job(self, job_id: UUID, reason: str = "cancelled by user") -> None:
        job = self.get_job(job_id)
        job.cancel(reason)
        self.save(job)

    def apply_training_status(
        self,
        job_id: UUID,
        status: TrainingStatus,
        *,
        reason: str | None = None,
        results: JobResults | None = None,
    ) -> StatusApplied:
        """Applies what the training backend says of a job (a SageMaker state change):
        Completed succeeds it with `results` (starting it first if it was pending or
        interrupted), Failed fails it, Stopped cancels it, InProgress starts a pending one.
        A job already ended is left as it is; a concurrent save is decided again on its state.
        """

        def apply() -> StatusApplied:
            job = self.get_job(job_id)
            if job.is_terminal:
                return "unchanged"
            if status == "Completed":
                if results is None:
                    raise ValueError(f"a Completed status of job {job.name} needs its results")
                if job.status is not JobStatus.RUNNING:
                    job.start()
                job.succeed(results)
                applied: StatusApplied = "succeeded"
            elif status == "Failed":
                job.fail(reason or f"SageMaker training job {job.name} failed")
                applied = "failed"
            elif status == "Stopped":
                job.cancel(reason or f"SageMaker training job {job.name} was stopped")
                applied = "cancelled"
            elif status == "InProgress" and job.status is JobStatus.PENDING:
                job.start()
                applied = "started"
            else:
                return "ignored"
            self.save(job)
            return applied

        return retry_on_conflict(apply)

    def interrupt_job(self, job_id: UUID, checkpoint_uri: str | None, reason: str) -> None:
        job = self.get_job(job_id)
        job.interrupt(checkpoint_uri, reason)
        self.save(job)

    def record_evaluation(self, job_id: UUID, evaluation: Evaluation) -> bool:
        series = self._metric_series(job_id)
        if series is None:
            self.get_job(job_id)  # a series exists only for a job that exists
            series = JobMetric(job_id=job_id)
        recorded = series.record(evaluation)
        if recorded:
            self.save(series)
        return recorded

    def append_log(self, job_id: UUID, entry: LogEntry) -> None:
        log = self._log(job_id)
        if log is None:
            self.get_job(job_id)  # a log exists only for a job that exists
            log = JobLog(job_id=job_id)
        log.append(entry)
        self.save(log)

    def evaluations_of(self, job_id: UUID) -> list[Evaluation]:
        series = self._metric_series(job_id)
        if series is None:
            self.get_job(job_id)
            return []
        return list(series.evaluations)

    def logs_of(self, job_id: UUID) -> list[LogEntry]:
        log = self._log(job_id)
        if log is None:
            self.get_job(job_id)
            return []
        return list(log.entries)

    def _metric_series(self, job_id: UUID) -> JobMetric | None:
        series: JobMetric | None = self.get_if_exists(JobMetric.id_for(job_id))
        return series

    def _log(self, job_id: UUID) -> JobLog | None:
        log: JobLog | None = self.get_if_exists(JobLog.id_for(job_id))
        return log
