"""The training Job aggregate and its status machine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from eventsourcing.domain import event
from pydantic import Field, ValidationError, field_validator

from receipts.domain.aggregate import Aggregate, AggregateCreated, ValueObject
from receipts.domain.artifacts import URIText
from receipts.domain.config import JobConfig, validation_problems
from receipts.domain.errors import InvalidInput
from receipts.domain.transitions import StatusMachine

SKIP_EXPORT_TAG = "skip-coreml-export"
EXPORT_QUANTIZATION_TAG = "coreml-quantize"
TRUTHY = frozenset({"true", "1", "yes", "on"})
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")

Priority = Literal["low", "medium", "high", "critical"]


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


JOB_STATUS = StatusMachine[JobStatus](
    "job",
    {
        JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
        JobStatus.RUNNING: frozenset(
            {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED}
        ),
        JobStatus.INTERRUPTED: frozenset(
            {JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}
        ),
        JobStatus.SUCCEEDED: frozenset(),
        JobStatus.FAILED: frozenset(),
        JobStatus.CANCELLED: frozenset(),
    },
)


class StorageMetadata(ValueObject):
    """Where a job's artifacts go."""

    output_uri: URIText | None = None
    checkpoint_uri: URIText | None = None
    log_uri: URIText | None = None


class DatasetLineage(ValueObject):
    """What a job trained on: source, content hash and counts."""

    source: str
    content_hash: str
    receipts: int = Field(ge=0)
    words: int = Field(ge=0)
    train_receipts: int = Field(0, ge=0)
    validation_receipts: int = Field(0, ge=0)
    label_counts: dict[str, int] = Field(default_factory=dict)


class JobResults(ValueObject):
    best_checkpoint_uri: URIText
    best_f1: float = Field(ge=0, le=1)
    best_epoch: int = Field(ge=0)
    epochs_run: int = Field(ge=0)
    stopped_early: bool = False
    dataset: DatasetLineage | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


def _valid_name(name: str) -> str:
    if not JOB_NAME.match(name):
        raise ValueError(
            f"job name {name!r} must be 1-128 characters: letters, digits, '.', '_', ':', '-',"
            " starting with a letter or digit"
        )
    return name


class JobDraft(ValueObject):
    """The validated fields of a new job (everything the Created event carries)."""

    name: str
    description: str = ""
    priority: Priority = "medium"
    created_by: str = "unknown"
    config: JobConfig = Field(default_factory=JobConfig)
    tags: dict[str, str] = Field(default_factory=dict)
    storage: StorageMetadata = Field(default_factory=StorageMetadata)

    @field_validator("name")
    @classmethod
    def _name_is_valid(cls, name: str) -> str:
        return _valid_name(name)

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> JobDraft:
        """A draft from untrusted fields; refuses bad input, naming each bad field."""
        try:
            return cls.model_validate(fields)
        except ValidationError as error:
            raise InvalidInput("job", validation_problems(error)) from None


class Job(Aggregate):
    """A training job: pending → running → succeeded | failed | cancelled | interrupted.

    Commands check their rule, then trigger an event; each event's `apply` is the only
    place that changes state (so replaying the events rebuilds the same job).
    """

    class Event(Aggregate.Event):
        pass

    class Created(Event, AggregateCreated):
        draft: JobDraft

    class Started(Event):
        def apply(self, aggregate: Any) -> None:
            job: Job = aggregate
            job.status = JobStatus.RUNNING
            job.started_at = self.timestamp
            job.attempts += 1

    class Resumed(Event):
        from_checkpoint_uri: str | None

        def apply(self, aggregate: Any) -> None:
            job: Job = aggregate
            job.status = JobStatus.RUNNING
            job.status_reason = None
            job.attempts += 1

    class Succeeded(Event):
        results: JobResults
        # name and tags travel on the event so downstream policies need no lookup
        job_name: str
        tags: dict[str, str]

        def apply(self, aggregate: Any) -> None:
            job: Job = aggregate
            job.status = JobStatus.SUCCEEDED
            job.results = self.results
            job.ended_at = self.timestamp

    class Failed(Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            job: Job = aggregate
            job.status = JobStatus.FAILED
            job.status_reason = self.reason
            job.ended_at = self.timestamp

    class Cancelled(Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            job: Job = aggregate
            job.status = JobStatus.CANCELLED
            job.status_reason = self.reason
            job.ended_at = self.timestamp

    class Interrupted(Event):
        checkpoint_uri: str | None
        reason: str

        def apply(self, aggregate: Any) -> None:
            job: Job = aggregate
            job.status = JobStatus.INTERRUPTED
            job.status_reason = self.reason
            job.resume_checkpoint_uri = self.checkpoint_uri

    @event(Created)
    def __init__(self, draft: JobDraft) -> None:
        self.draft = draft
        self.status = JobStatus.PENDING
        self.status_reason: str | None = None
        self.results: JobResults | None = None
        self.resume_checkpoint_uri: str | None = None
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.attempts = 0

    @property
    def name(self) -> str:
        return self.draft.name

    @property
    def config(self) -> JobConfig:
        return self.draft.config

    @property
    def tags(self) -> dict[str, str]:
        return self.draft.tags

    @property
    def is_terminal(self) -> bool:
        return self.status in JOB_STATUS.terminal

    @property
    def skips_export(self) -> bool:
        return self.tags.get(SKIP_EXPORT_TAG, "").strip().lower() in TRUTHY

    def start(self) -> None:
        JOB_STATUS.check(self.id, self.status, JobStatus.RUNNING, "start")
        if self.status is JobStatus.INTERRUPTED:
            self.trigger_event(self.Resumed, from_checkpoint_uri=self.resume_checkpoint_uri)
        else:
            self.trigger_event(self.Started)

    def succeed(self, results: JobResults) -> None:
        JOB_STATUS.check(self.id, self.status, JobStatus.SUCCEEDED, "succeed")
        self.trigger_event(
            self.Succeeded, results=results, job_name=self.name, tags=dict(self.tags)
        )

    def fail(self, reason: str) -> None:
        JOB_STATUS.check(self.id, self.status, JobStatus.FAILED, "fail")
        self.trigger_event(self.Failed, reason=reason)

    def cancel(self, reason: str = "cancelled by user") -> None:
        JOB_STATUS.check(self.id, self.status, JobStatus.CANCELLED, "be cancelled")
        self.trigger_event(self.Cancelled, reason=reason)

    def interrupt(self, checkpoint_uri: str | None, reason: str = "interrupted") -> None:
        JOB_STATUS.check(self.id, self.status, JobStatus.INTERRUPTED, "be interrupted")
        self.trigger_event(self.Interrupted, checkpoint_uri=checkpoint_uri, reason=reason)
