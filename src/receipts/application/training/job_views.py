"""Read models: the seeds' queries on jobs, their metrics and logs, exports and OCR jobs.

`JobCatalog` projects the notification logs of Jobs (and, when given, Exports and OCRJobs)
into a `JobReadModel` (`ports/read_model.py`): in memory (`adapters/memory/read_model.py`),
DynamoDB's single table in aws mode. It catches up
before each query, so it is current also when another process (a trainer, a worker) wrote
the events. Each stream's position is kept in the read model, and every mutable record
carries the notification id of the last event applied to it, so replaying a notification
(after a crash between writing records and the position, or by a second projector) changes
nothing, and a slower projector never rewinds a record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from receipts.application.export.export_views import EXPORT_EVENTS, evolve_export
from receipts.application.export.exports import Exports
from receipts.application.ocr.ocr_jobs import OCRJobs
from receipts.application.ocr.ocr_views import OCR_EVENTS, evolve_ocr
from receipts.application.ports.read_model import (
    ExportRecord,
    JobReadModel,
    JobSummary,
    LogRecord,
    MetricRecord,
    OCRRecord,
    ReadModelChanges,
)
from receipts.application.training.jobs import Jobs
from receipts.domain.errors import JobNotFound
from receipts.domain.job import Job, JobStatus
from receipts.domain.job_log import JobLog, LogEntry
from receipts.domain.job_metric import Evaluation, JobMetric
from receipts.domain.ocr_job import OCRStatus

_JOB_EVENTS = (
    Job.Created,
    Job.Started,
    Job.Resumed,
    Job.Succeeded,
    Job.Failed,
    Job.Cancelled,
    Job.Interrupted,
    JobMetric.Created,
    JobMetric.Recorded,
    JobLog.Created,
    JobLog.Logged,
)


def evolve(summary: JobSummary | None, event: Any, position: int = 0) -> JobSummary | None:
    """The summary after one Job event (a pure function, so projections are replayable)."""
    at: datetime = event.timestamp
    if isinstance(event, Job.Created):
        draft = event.draft
        return JobSummary(
            job_id=event.originator_id,
            name=draft.name,
            description=draft.description,
            status=JobStatus.PENDING,
            priority=draft.priority,
            created_by=draft.created_by,
            tags=draft.tags,
            config=draft.config,
            storage=draft.storage,
            created_at=at,
            updated_at=at,
            position=position,
        )
    if summary is None:
        return None
    changes: dict[str, Any] = {"updated_at": at, "position": position}
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


Project = Callable[[ReadModelChanges, Any, int], None]


Record = TypeVar("Record", JobSummary, ExportRecord, OCRRecord)


def _project_record(
    records: dict[UUID, Record],
    stored: Callable[[UUID], Record | None],
    evolve: Callable[[Record | None, Any, int], Record | None],
    event: Any,
    position: int,
) -> None:
    """Puts the record of the event's aggregate as the event leaves it, unless it has that
    event already (a replay)."""
    key: UUID = event.originator_id
    before = records.get(key) or stored(key)
    if before is not None and before.position >= position:
        return
    after = evolve(before, event, position)
    if after is not None:
        records[key] = after


class JobCatalog:
    """The projection and the queries on its read model."""

    def __init__(
        self,
        jobs: Jobs,
        read_model: JobReadModel,
        *,
        exports: Exports | None = None,
        ocr_jobs: OCRJobs | None = None,
    ) -> None:
        self.jobs = jobs
        self.exports = exports
        self.ocr_jobs = ocr_jobs
        self.read_model = read_model
        self._owners: dict[UUID, UUID] = {}
        self._streams: list[tuple[Application[UUID], list[str], Project]] = [
            (jobs, [get_topic(cls) for cls in _JOB_EVENTS], self._project_jobs)
        ]
        if exports is not None:
            topics = [get_topic(cls) for cls in EXPORT_EVENTS]
            self._streams.append((exports, topics, self._project_export))
        if ocr_jobs is not None:
            self._streams.append((ocr_jobs, [get_topic(c) for c in OCR_EVENTS], self._project_ocr))

    def catch_up(self, batch: int = 1000) -> None:
        for app, topics, project in self._streams:
            self._follow(app, topics, project, batch)

    def _follow(
        self, app: Application[UUID], topics: list[str], project: Project, batch: int
    ) -> None:
        start = self.read_model.position(app.name) + 1
        while True:
            notifications = app.recorder.select_notifications(
                start=start, limit=batch, topics=topics
            )
            if not notifications:
                return
            changes = ReadModelChanges()
            for notification in notifications:
                project(changes, app.mapper.to_domain_event(notification), notification.id)
            self.read_model.apply(changes, app.name, notifications[-1].id)
            start = notifications[-1].id + 1

    def _project_jobs(self, changes: ReadModelChanges, event: Any, position: int) -> None:
        if isinstance(event, JobMetric.Created | JobLog.Created):
            self._owners[event.originator_id] = event.job_id
        elif isinstance(event, JobMetric.Recorded):
            job_id = self._owner(event.originator_id)
            sequence = event.originator_version
            changes.metrics.append(
                MetricRecord(job_id=job_id, sequence=sequence, evaluation=event.evaluation)
            )
        elif isinstance(event, JobLog.Logged):
            job_id = self._owner(event.originator_id)
            sequence = event.originator_version
            changes.logs.append(LogRecord(job_id=job_id, sequence=sequence, entry=event.entry))
        else:
            _project_record(changes.jobs, self.read_model.get, evolve, event, position)

    def _owner(self, series_id: UUID) -> UUID:
        """The job of a metric series or log (their events other than Created omit it)."""
        if series_id not in self._owners:
            [stored] = self.jobs.recorder.select_events(series_id, lte=1)
            created: Any = self.jobs.mapper.to_domain_event(stored)
            self._owners[series_id] = created.job_id
        return self._owners[series_id]

    def _project_export(self, changes: ReadModelChanges, event: Any, position: int) -> None:
        _project_record(changes.exports, self.read_model.export, evolve_export, event, position)

    def _project_ocr(self, changes: ReadModelChanges, event: Any, position: int) -> None:
        _project_record(changes.ocr_jobs, self.read_model.ocr_job, evolve_ocr, event, position)

    # -- the seeds' queries ---------------------------------------------------------------

    def all(self) -> list[JobSummary]:
        self.catch_up()
        return self.read_model.all()

    def by_status(self, status: JobStatus | str) -> list[JobSummary]:
        self.catch_up()
        return self.read_model.by_status(JobStatus(status))

    def latest_by_status(self, status: JobStatus | str) -> JobSummary | None:
        self.catch_up()
        return self.read_model.latest_by_status(JobStatus(status))

    def latest_best_checkpoint(self) -> str | None:
        """The best checkpoint of the job that succeeded last: the model a worker or an
        inference function runs when none is configured."""
        latest = self.latest_by_status(JobStatus.SUCCEEDED)
        return latest.best_checkpoint_uri if latest is not None else None

    def by_name(self, name: str) -> JobSummary:
        self.catch_up()
        summary = self.read_model.by_name(name)
        if summary is None:
            # a secondary index may lag (DynamoDB's GSIs are eventually consistent): the
            # event store's JobName index and a consistent read by id do not
            summary = self.read_model.get(self.jobs.get_job_by_name(name).id)
        if summary is None:
            raise JobNotFound(name)
        return summary

    def metrics(self, job_id: UUID) -> list[Evaluation]:
        self.catch_up()
        return self.read_model.metrics(job_id)

    def logs(self, job_id: UUID) -> list[LogEntry]:
        self.catch_up()
        return self.read_model.logs(job_id)

    def export(self, export_id: UUID) -> ExportRecord | None:
        self._need(self.exports, "Exports")
        self.catch_up()
        return self.read_model.export(export_id)

    def exports_of(self, job_id: UUID) -> list[ExportRecord]:
        self._need(self.exports, "Exports")
        self.catch_up()
        return self.read_model.exports_of(job_id)

    def ocr_job(self, ocr_job_id: UUID) -> OCRRecord | None:
        self._need(self.ocr_jobs, "OCRJobs")
        self.catch_up()
        return self.read_model.ocr_job(ocr_job_id)

    def ocr_jobs_by_status(self, status: OCRStatus | str) -> list[OCRRecord]:
        self._need(self.ocr_jobs, "OCRJobs")
        self.catch_up()
        return self.read_model.ocr_jobs_by_status(OCRStatus(status))

    @staticmethod
    def _need(app: Application[UUID] | None, name: str) -> None:
        if app is None:
            raise ValueError(f"this catalog does not follow {name}: pass {name.lower()}=...")
