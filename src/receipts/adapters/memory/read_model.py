"""The job read model in memory: the memory and local modes' (rebuilt from the event
store by catching up when a process starts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from receipts.application.ports.read_model import (
    ExportRecord,
    JobSummary,
    LogRecord,
    MetricRecord,
    OCRRecord,
    ReadModelChanges,
)
from receipts.domain.job import JobStatus
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation
from receipts.domain.ocr_job import OCRStatus


def _newest(held: dict[UUID, Any], records: dict[UUID, Any], key: Callable[[Any], UUID]) -> None:
    for record in records.values():
        before = held.get(key(record))
        if before is None or record.position > before.position:
            held[key(record)] = record


class InMemoryJobReadModel:
    def __init__(self) -> None:
        self._positions: dict[str, int] = {}
        self._summaries: dict[UUID, JobSummary] = {}
        self._names: dict[str, UUID] = {}
        self._metrics: dict[UUID, dict[int, MetricRecord]] = {}
        self._logs: dict[UUID, dict[int, LogRecord]] = {}
        self._exports: dict[UUID, ExportRecord] = {}
        self._exports_by_job: dict[UUID | None, set[UUID]] = {}
        self._ocr_jobs: dict[UUID, OCRRecord] = {}

    def position(self, stream: str) -> int:
        return self._positions.get(stream, 0)

    def apply(self, changes: ReadModelChanges, stream: str, position: int) -> None:
        _newest(self._summaries, changes.jobs, lambda s: s.job_id)
        self._names.update({s.name: s.job_id for s in changes.jobs.values()})
        _newest(self._exports, changes.exports, lambda e: e.export_id)
        for export in changes.exports.values():
            self._exports_by_job.setdefault(export.source_job_id, set()).add(export.export_id)
        _newest(self._ocr_jobs, changes.ocr_jobs, lambda o: o.ocr_job_id)
        for metric in changes.metrics:
            self._metrics.setdefault(metric.job_id, {})[metric.sequence] = metric
        for log in changes.logs:
            self._logs.setdefault(log.job_id, {})[log.sequence] = log
        self._positions[stream] = max(self.position(stream), position)

    def get(self, job_id: UUID) -> JobSummary | None:
        return self._summaries.get(job_id)

    def by_name(self, name: str) -> JobSummary | None:
        job_id = self._names.get(name)
        return self._summaries[job_id] if job_id else None

    def by_status(self, status: JobStatus) -> list[JobSummary]:
        return [s for s in self.all() if s.status is status]

    def latest_by_status(self, status: JobStatus) -> JobSummary | None:
        jobs = self.by_status(status)
        return max(jobs, key=lambda s: (s.updated_at, str(s.job_id))) if jobs else None

    def all(self) -> list[JobSummary]:
        return sorted(self._summaries.values(), key=lambda s: (s.created_at, s.name))

    def metrics(self, job_id: UUID) -> list[Evaluation]:
        records = self._metrics.get(job_id, {}).values()
        ordered = sorted(records, key=lambda m: (m.evaluation.timestamp, m.sequence))
        return [m.evaluation for m in ordered]

    def logs(self, job_id: UUID) -> list[LogEntry]:
        records = self._logs.get(job_id, {}).values()
        return [r.entry for r in sorted(records, key=lambda r: (r.entry.timestamp, r.sequence))]

    def export(self, export_id: UUID) -> ExportRecord | None:
        return self._exports.get(export_id)

    def exports_of(self, job_id: UUID) -> list[ExportRecord]:
        found = [self._exports[e] for e in self._exports_by_job.get(job_id, ())]
        return sorted(found, key=lambda e: (e.created_at, str(e.export_id)))

    def ocr_job(self, ocr_job_id: UUID) -> OCRRecord | None:
        return self._ocr_jobs.get(ocr_job_id)

    def ocr_jobs_by_status(self, status: OCRStatus) -> list[OCRRecord]:
        found = [o for o in self._ocr_jobs.values() if o.status is status]
        return sorted(found, key=lambda o: (o.created_at, str(o.ocr_job_id)))
