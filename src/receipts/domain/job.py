"""The training Job aggregate and its status machine."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from eventsourcing.domain import event
from pydantic import Field, field_validator

from receipts.domain.aggregate import Aggregate, ValueObject
from receipts.domain.artifacts import URIText
from receipts.domain.config import JobConfig
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


S = JobStatus
JOB_STATUS = StatusMachine[JobStatus](
    "job",
    {
        S.PENDING: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
        S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.INTERRUPTED}),
        S.INTERRUPTED: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
        S.SUCCEEDED: frozenset(),
        S.FAILED: frozenset(),
        S.CANCELLED: frozenset(),
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
    config: JobConfig = JobConfig()
    tags: dict[str, str] = Field(default_factory=dict)
    storage: StorageMetadata = StorageMetadata()

    @field_validator("name")
    @classmethod
    def _name_is_valid(cls, name: str) -> str:
        return _valid_name(name)


class Job(Aggregate):
    """A training job: pending → running → succeeded | failed | cancelled | interrupted."""

    class Created(Aggregate.Created):
        draft: JobDraft

    class Started(Aggregate.Event):
        pass

    class Resumed(Aggregate.Event):
        from_checkpoint_uri: str | None

    class Succeeded(Aggregate.Event):
        results: JobResults
        # name and tags travel on the event so downstream policies need no lookup
        job_name: str
        tags: dict[str, str]

    class Failed(Aggregate.Event):
        reason: str

    class Cancelled(Aggregate.Event):
        reason: str

    class Interrupted(Aggregate.Event):
        checkpoint_uri: str | None
        reason: str

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
        JOB_STATUS.check(self.id, self.status, S.RUNNING, "start")
        if self.status is S.INTERRUPTED:
            self._resumed(from_checkpoint_uri=self.resume_checkpoint_uri)
        else:
            self._started()

    def succeed(self, results: JobResults) -> None:
        JOB_STATUS.check(self.id, self.status, S.SUCCEEDED, "succeed")
        self._succeeded(results=results, job_name=self.name, tags=dict(self.tags))

    def fail(self, reason: str) -> None:
        JOB_STATUS.check(self.id, self.status, S.FAILED, "fail")
        self._failed(reason=reason)

    def cancel(self, reason: str = "cancelled by user") -> None:
        JOB_STATUS.check(self.id, self.status, S.CANCELLED, "be cancelled")
        self._cancelled(reason=reason)

    def interrupt(self, checkpoint_uri: str | None, reason: str = "interrupted") -> None:
        JOB_STATUS.check(self.id, self.status, S.INTERRUPTED, "be interrupted")
        self._interrupted(checkpoint_uri=checkpoint_uri, reason=reason)

    @event(Started)
    def _started(self) -> None:
        self.status = S.RUNNING
        self.started_at = self.modified_on
        self.attempts += 1

    @event(Resumed)
    def _resumed(self, from_checkpoint_uri: str | None) -> None:
        self.status = S.RUNNING
        self.status_reason = None
        self.attempts += 1

    @event(Succeeded)
    def _succeeded(self, results: JobResults, job_name: str, tags: dict[str, str]) -> None:
        self.status = S.SUCCEEDED
        self.results = results
        self.ended_at = self.modified_on

    @event(Failed)
    def _failed(self, reason: str) -> None:
        self.status = S.FAILED
        self.status_reason = reason
        self.ended_at = self.modified_on

    @event(Cancelled)
    def _cancelled(self, reason: str) -> None:
        self.status = S.CANCELLED
        self.status_reason = reason
        self.ended_at = self.modified_on

    @event(Interrupted)
    def _interrupted(self, checkpoint_uri: str | None, reason: str) -> None:
        self.status = S.INTERRUPTED
        self.status_reason = reason
        self.resume_checkpoint_uri = checkpoint_uri
