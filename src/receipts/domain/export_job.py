"""The ExportJob aggregate: one conversion of a checkpoint into an on-device bundle."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field

from receipts.domain.aggregate import Aggregate, AggregateCreated, ValueObject, derived_id
from receipts.domain.artifacts import ArtifactURI, URIText
from receipts.domain.quantization import Quantization
from receipts.domain.transitions import StatusMachine


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


EXPORT_STATUS = StatusMachine[ExportStatus](
    "export job",
    {
        # running → running: a redelivery after a worker died mid-export starts a new attempt
        ExportStatus.QUEUED: frozenset({ExportStatus.RUNNING, ExportStatus.FAILED}),
        ExportStatus.RUNNING: frozenset(
            {ExportStatus.RUNNING, ExportStatus.SUCCEEDED, ExportStatus.FAILED}
        ),
        ExportStatus.SUCCEEDED: frozenset(),
        ExportStatus.FAILED: frozenset(),
    },
)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
"""Checkpoint URIs with these endings name one archive object, not a prefix."""

RequestedBy = Literal["auto", "manual", "queue"]
"""`auto`: the policy; `manual`: a person or program; `queue`: recorded by a worker from a
message that was sent straight to the queue (already there: the dispatcher sends none)."""


def default_output_prefix(checkpoint_uri: str, job_name: str | None) -> str:
    """Bundles go beside the run: `.../runs/<job>/best/` exports to `.../runs/<job>/coreml/`."""
    uri = ArtifactURI.parse(checkpoint_uri)
    parts = [part for part in uri.key.split("/") if part]
    if parts and (
        parts[-1] == "best"
        or parts[-1].startswith("checkpoint-")
        or parts[-1].endswith(ARCHIVE_SUFFIXES)  # SageMaker's `.../output/model.tar.gz`
    ):
        parts = parts[:-1]
    if not parts and job_name:
        parts = ["coreml", job_name]
    else:
        parts.append("coreml")
    return str(ArtifactURI(scheme=uri.scheme, bucket=uri.bucket, key="/".join(parts) + "/"))


class ExportRequest(ValueObject):
    source_job_id: UUID | None = None
    source_job_name: str | None = None
    checkpoint_uri: URIText
    quantization: Quantization = Quantization.FLOAT16
    output_prefix: URIText
    requested_by: RequestedBy = "manual"


class ExportOutcome(ValueObject):
    bundle_uri: URIText
    file_sizes: dict[str, int] = Field(default_factory=dict)
    total_bytes: int = Field(0, ge=0)
    duration_seconds: float = Field(0.0, ge=0)
    validation: dict[str, Any] = Field(default_factory=dict)


class ExportJob(Aggregate):
    """queued → running → succeeded | failed."""

    class Event(Aggregate.Event):
        pass

    class Requested(Event, AggregateCreated):
        request: ExportRequest
        export_id: UUID | None = None

    class Started(Event):
        worker: str

        def apply(self, aggregate: Any) -> None:
            export: ExportJob = aggregate
            export.status = ExportStatus.RUNNING
            export.worker = self.worker
            export.attempts += 1

    class Succeeded(Event):
        outcome: ExportOutcome

        def apply(self, aggregate: Any) -> None:
            export: ExportJob = aggregate
            export.status = ExportStatus.SUCCEEDED
            export.outcome = self.outcome

    class Failed(Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            export: ExportJob = aggregate
            export.status = ExportStatus.FAILED
            export.error = self.reason

    @staticmethod
    def create_id(
        *_: Any, request: ExportRequest, export_id: UUID | None = None, **__: Any
    ) -> UUID:
        if export_id is not None:
            return export_id
        return Aggregate.create_id()

    @staticmethod
    def auto_id_for(job_id: UUID) -> UUID:
        """The id of the export the policy requests for a job: at most one per job."""
        return derived_id("auto-export", job_id)

    @event(Requested)
    def __init__(self, request: ExportRequest, export_id: UUID | None = None) -> None:
        self.request = request
        self.status = ExportStatus.QUEUED
        self.attempts = 0
        self.worker: str | None = None
        self.outcome: ExportOutcome | None = None
        self.error: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in EXPORT_STATUS.terminal

    def start(self, worker: str) -> None:
        EXPORT_STATUS.check(self.id, self.status, ExportStatus.RUNNING, "start")
        self.trigger_event(self.Started, worker=worker)

    def succeed(self, outcome: ExportOutcome) -> None:
        EXPORT_STATUS.check(self.id, self.status, ExportStatus.SUCCEEDED, "succeed")
        self.trigger_event(self.Succeeded, outcome=outcome)

    def fail(self, reason: str) -> None:
        EXPORT_STATUS.check(self.id, self.status, ExportStatus.FAILED, "fail")
        self.trigger_event(self.Failed, reason=reason)
