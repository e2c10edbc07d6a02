"""Read models of jobs: the seeds' queries (by status, by name, latest by status).

`JobCatalog` is a projection of the Jobs application's notification log into a
`JobReadModel`. It catches up before each query, so it is current also when another
process (a trainer, a worker) wrote the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.utils import get_topic
from pydantic import BaseModel, ConfigDict

from receipts.application.jobs import Jobs
from receipts.domain.aggregate import Timestamp
from receipts.domain.errors import JobNotFound
from receipts.domain.job import Job, JobStatus

_JOB_EVENTS = (
    Job.Created,
    Job.Started,
    Job.Resumed,
    Job.Succeeded,
    Job.Failed,
    Job.Cancelled,
    Job.Interrupted,
)


class JobSummary(BaseModel):
    # built on first use (queries), not when the module is imported
    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: UUID
    name: str
    status: JobStatus
    status_reason: str | None = None
    priority: str
    created_by: str
    tags: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp
    best_f1: float | None = None
    best_checkpoint_uri: str | None = None


class JobReadModel(Protocol):
    """Where job summaries are kept for queries (in memory, DynamoDB's GSI, ...)."""

    def position(self) -> int: ...

    def apply(self, summaries: Iterable[JobSummary], position: int) -> None: ...

    def get(self, job_id: UUID) -> JobSummary | None: ...

    def by_status(self, status: JobStatus) -> list[JobSummary]: ...

    def all(self) -> list[JobSummary]: ...


class InMemoryJobReadModel:
    def __init__(self) -> None:
        self._position = 0
        self._summaries: dict[UUID, JobSummary] = {}

    def position(self) -> int:
        return self._position

    def apply(self, summaries: Iterable[JobSummary], position: int) -> None:
        for summary in summaries:
            self._summaries[summary.job_id] = summary
        self._position = max(self._position, position)

    def get(self, job_id: UUID) -> JobSummary | None:
        return self._summaries.get(job_id)

    def by_status(self, status: JobStatus) -> list[JobSummary]:
        return [s for s in self.all() if s.status is status]

    def all(self) -> list[JobSummary]:
        return sorted(self._summaries.values(), key=lambda s: (s.created_at, s.name))


def evolve(summary: JobSummary | None, event: Any) -> JobSummary | None:
    """The summary after one Job event (a pure function, so projections are replayable)."""
    at: datetime = event.timestamp
    if isinstance(event, Job.Created):
        draft = event.draft
        return JobSummary(
            job_id=event.originator_id,
            name=draft.name,
            status=JobStatus.PENDING,
            priority=draft.priority,
            created_by=draft.created_by,
            tags=draft.tags,
            created_at=at,
            updated_at=at,
        )
    if summary is None:
        return None
    changes: dict[str, Any] = {"updated_at": at}
    if isinstance(event, Job.Started | Job.Resumed):
        changes |= {"status": JobStatus.RUNNING, "status_reason": None}
    elif isinstance(event, Job.Succeeded):
        changes |= {
            "status": JobStatus.SUCCEEDED,
            "best_f1": event.results.best_f1,
            "best_checkpoint_uri": event.results.best_checkpoint_uri,
        }
    elif isinstance(event, Job.Failed):
        changes |= {"status": JobStatus.FAILED, "status_reason": event.reason}
    elif isinstance(event, Job.Cancelled):
        changes |= {"status": JobStatus.CANCELLED, "status_reason": event.reason}
    elif isinstance(event, Job.Interrupted):
        changes |= {"status": JobStatus.INTERRUPTED, "status_reason": event.reason}
    return summary.model_copy(update=changes)


class JobCatalog:
    def __init__(self, jobs: Jobs, read_model: JobReadModel | None = None) -> None:
        self.jobs = jobs
        self.read_model: JobReadModel = read_model or InMemoryJobReadModel()
        self._topics = [get_topic(cls) for cls in _JOB_EVENTS]

    def catch_up(self, batch: int = 1000) -> None:
        while True:
            start = self.read_model.position() + 1
            notifications = self.jobs.recorder.select_notifications(
                start=start, limit=batch, topics=self._topics
            )
            if not notifications:
                return
            changed: dict[UUID, JobSummary] = {}
            for notification in notifications:
                event = self.jobs.mapper.to_domain_event(notification)
                before = changed.get(event.originator_id) or self.read_model.get(
                    event.originator_id
                )
                after = evolve(before, event)
                if after is not None:
                    changed[after.job_id] = after
            self.read_model.apply(changed.values(), notifications[-1].id)

    def all(self) -> list[JobSummary]:
        self.catch_up()
        return self.read_model.all()

    def by_status(self, status: JobStatus | str) -> list[JobSummary]:
        self.catch_up()
        return self.read_model.by_status(JobStatus(status))

    def latest_by_status(self, status: JobStatus | str) -> JobSummary | None:
        jobs = self.by_status(status)
        return max(jobs, key=lambda s: s.updated_at) if jobs else None

    def by_name(self, name: str) -> JobSummary:
        job = self.jobs.get_job_by_name(name)
        self.catch_up()
        summary = self.read_model.get(job.id)
        if summary is None:
            raise JobNotFound(name)
        return summary
