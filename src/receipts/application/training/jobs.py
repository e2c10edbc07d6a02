"""The Jobs application: training jobs, their metric series and their logs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from receipts.application.event_sourcing.conflicts import retry_on_conflict
from receipts.application.event_sourcing.persistence import PydanticApplication
from receipts.domain.errors import DuplicateJobName, JobNotFound
from receipts.domain.job import Job, JobDraft, JobResults, JobStatus
from receipts.domain.job_lease import JobLease
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
        self.change_job(job_id, Job.start)

    def succeed_job(self, job_id: UUID, results: JobResults) -> None:
        self.change_job(job_id, lambda job: job.succeed(results))

    def fail_job(self, job_id: UUID, reason: str) -> None:
        self.change_job(job_id, lambda job: job.fail(reason))

    def cancel_job(self, job_id: UUID, reason: str = "cancelled by user") -> None:
        self.change_job(job_id, lambda job: job.cancel(reason))

    def change_job(self, job_id: UUID, command: Callable[[Job], None]) -> Job:
        """Runs `command` on the job and saves it. When another save of the job won the
        race (a trainer succeeding while a person cancels), the command is decided again
        on the state that save left: it then applies, or raises the rule it breaks
        (IllegalTransition), never a storage conflict."""

        def change() -> Job:
            job = self.get_job(job_id)
            command(job)
            self.save(job)
            return job

        return retry_on_conflict(change)

    def start_attempt(self, job_id: UUID, holder: str, now: datetime, lease_seconds: float) -> Job:
        """Starts (or resumes) the job and gives the new attempt its lease, in one save: a
        running attempt always has a lease. The lease starts at the resume checkpoint."""

        def start() -> Job:
            job = self.get_job(job_id)
            job.start()
            lease = self.lease_of(job_id) or JobLease(job_id=job_id)
            lease.renew(job.attempts, holder, now, lease_seconds, job.resume_checkpoint_uri)
            self.save(job, lease)
            return job

        return retry_on_conflict(start)

    def end_attempt(self, job_id: UUID, attempt: int, command: Callable[[Job], None]) -> JobStatus:
        """Ends the job's `attempt` with `command` (succeed, fail, interrupt) unless the
        attempt was ended already (cancelled by a person, interrupted by a sweep, taken
        over by a later attempt), which then wins; the job's status either way."""

        def end() -> JobStatus:
            job = self.get_job(job_id)
            if job.status is not JobStatus.RUNNING or job.attempts != attempt:
                return job.status
            command(job)
            self.save(job)
            return job.status

        return retry_on_conflict(end)

    def renew_lease(
        self,
        job_id: UUID,
        attempt: int,
        holder: str,
        now: datetime,
        seconds: float,
        checkpoint_uri: str | None = None,
    ) -> None:
        def renew() -> None:
            lease = self.lease_of(job_id)
            if lease is None:
                self.get_job(job_id)  # a lease exists only for a job that exists
                lease = JobLease(job_id=job_id)
            lease.renew(attempt, holder, now, seconds, checkpoint_uri)
            self.save(lease)

        retry_on_conflict(renew)

    def lease_of(self, job_id: UUID) -> JobLease | None:
        lease: JobLease | None = self.get_if_exists(JobLease.id_for(job_id))
        return lease

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
        self.change_job(job_id, lambda job: job.interrupt(checkpoint_uri, reason))

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
