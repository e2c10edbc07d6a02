"""The read-model port: the records the job catalog projects and where they are kept.

Adapters: `adapters/memory/read_model.py` (memory and local modes) and
`adapters/dynamodb/job_read_model.py` (the seeds' single table); one contract suite,
`tests/contracts/test_read_model_contract.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from receipts.domain.aggregate import Timestamp
from receipts.domain.config import JobConfig
from receipts.domain.export_job import ExportStatus
from receipts.domain.job import JobStatus, StorageMetadata
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation
from receipts.domain.ocr_job import OCRStatus, RoutingDecision
from receipts.domain.quantization import Quantization


class ExportRecord(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    export_id: UUID
    status: ExportStatus
    source_job_id: UUID | None = None
    source_job_name: str | None = None
    checkpoint_uri: str
    quantization: Quantization
    output_prefix: str
    requested_by: str
    attempts: int = 0
    worker: str | None = None
    bundle_uri: str | None = None
    total_bytes: int | None = None
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    position: int = 0
    """The notification id of the last event applied (replays of older ones are ignored)."""


class OCRRecord(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    ocr_job_id: UUID
    status: OCRStatus
    image_uri: str
    ocr_engine: str
    submitted_by: str
    attempts: int = 0
    worker: str | None = None
    word_count: int | None = None
    routing: RoutingDecision | None = None
    result_uris: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    position: int = 0
    """The notification id of the last event applied (replays of older ones are ignored)."""


class JobSummary(BaseModel):
    # built on first use (queries), not when the module is imported
    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: UUID
    name: str
    description: str = ""
    status: JobStatus
    status_reason: str | None = None
    priority: str
    created_by: str
    tags: dict[str, str]
    config: JobConfig | None = None
    storage: StorageMetadata = Field(default_factory=StorageMetadata)
    created_at: Timestamp
    updated_at: Timestamp
    best_f1: float | None = None
    best_checkpoint_uri: str | None = None
    position: int = 0
    """The notification id of the last event applied (replays of older ones are ignored)."""


class MetricRecord(BaseModel):
    """One evaluation of a job (the seeds' JobMetric); `sequence` is its event's version."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: UUID
    sequence: int
    evaluation: Evaluation


class LogRecord(BaseModel):
    """One entry of a job's log (the seeds' JobLog); `sequence` is its event's version."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: UUID
    sequence: int
    entry: LogEntry


@dataclass
class ReadModelChanges:
    """What one batch of notifications changed: records to put, newest state per id."""

    jobs: dict[UUID, JobSummary] = field(default_factory=dict)
    metrics: list[MetricRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    exports: dict[UUID, ExportRecord] = field(default_factory=dict)
    ocr_jobs: dict[UUID, OCRRecord] = field(default_factory=dict)


class JobReadModel(Protocol):
    """Where the projected records are kept for queries (in memory, DynamoDB, ...).

    Orders: jobs, jobs by status and exports of a job oldest first (created_at, then name or
    id); metrics and logs by time (then event version); OCR jobs by status oldest first.
    A record is replaced only by one with a higher `position`.
    """

    def position(self, stream: str) -> int: ...

    def apply(self, changes: ReadModelChanges, stream: str, position: int) -> None: ...

    def get(self, job_id: UUID) -> JobSummary | None: ...

    def by_name(self, name: str) -> JobSummary | None: ...

    def by_status(self, status: JobStatus) -> list[JobSummary]: ...

    def latest_by_status(self, status: JobStatus) -> JobSummary | None:
        """The job that most recently reached (or changed within) this status."""
        ...

    def all(self) -> list[JobSummary]: ...

    def metrics(self, job_id: UUID) -> list[Evaluation]: ...

    def logs(self, job_id: UUID) -> list[LogEntry]: ...

    def export(self, export_id: UUID) -> ExportRecord | None: ...

    def exports_of(self, job_id: UUID) -> list[ExportRecord]: ...

    def ocr_job(self, ocr_job_id: UUID) -> OCRRecord | None: ...

    def ocr_jobs_by_status(self, status: OCRStatus) -> list[OCRRecord]: ...
