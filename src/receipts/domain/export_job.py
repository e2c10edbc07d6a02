"""The ExportJob aggregate: one conversion of a checkpoint into an on-device bundle."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field

from receipts.domain.aggregate import Aggregate, AggregateCreated, ValueObject, derived_id
from receipts.domain.artifacts import ArtifactURI, URIText
from receipts.domain.attempts import Attempts
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
        ExportStatus.FAILED: frozenset({ExportStatus.QUEUED}),  # an operator's retry
    },
)
ENDED = frozenset({ExportStatus.SUCCEEDED, ExportStatus.FAILED})
"""Where an export's work ends (a failed one can still be retried by an operator)."""

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
"""Checkpoint URIs with these endings name one archive object, not a prefix."""

STAGING = ".staging"
"""The folder under an output prefix where attempts stage their bundles."""

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

    def bundle_prefix(self) -> str:
        """Where the bundle is published: `<output_prefix><quantization>/`."""
        return str(ArtifactURI.parse(self.output_prefix).join(self.quantization.value).as_prefix())

    def staging_root(self, export_id: UUID) -> str:
        """Where the attempts of one export stage their bundles (never read as a bundle)."""
        uri = ArtifactURI.parse(self.output_prefix).join(STAGING, str(export_id))
        return str(uri.as_prefix())

    def staging_prefix(self, export_id: UUID, attempt: int) -> str:
        """Where one attempt uploads its bundle before publishing it."""
        return str(ArtifactURI.parse(self.staging_root(export_id)).join(str(attempt)).as_prefix())


class ExportOutcome(ValueObject):
    bundle_uri: URIText
    file_sizes: dict[str, int] = Field(default_factory=dict)
    total_bytes: int = Field(0, ge=0)
    duration_seconds: float = Field(0.0, ge=0)
    validation: dict[str, Any] = Field(default_factory=dict)


class ExportJob(Attempts[ExportStatus], Aggregate):
    """queued → running → succeeded | failed; failed → queued by an operator's retry.

    Every start is a new attempt, numbered by `attempts`. A worker ends only its own
    attempt: `succeed`/`fail` given an `attempt` that is no longer the current running one
    raise StaleAttempt, so of two concurrent attempts only one records its end (the event
    store's optimistic concurrency decides between two saves of the same version)."""

    WHAT = "export job"
    RUNNING = ExportStatus.RUNNING

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
        attempt: int | None = None

        def apply(self, aggregate: Any) -> None:
            export: ExportJob = aggregate
            export.status = ExportStatus.SUCCEEDED
            export.outcome = self.outcome

    class Failed(Event):
        reason: str
        attempt: int | None = None

        def apply(self, aggregate: Any) -> None:
            export: ExportJob = aggregate
            export.status = ExportStatus.FAILED
            export.error = self.reason

    class Retried(Event):
        reason: str
        request: ExportRequest
        """The request again: the outbox relay sends its message from this event."""

        def apply(self, aggregate: Any) -> None:
            export: ExportJob = aggregate
            export.status = ExportStatus.QUEUED
            export.queued_at_attempt = export.attempts
            export.error = None
            export.worker = None

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
        self.worker: str | None = None
        self.outcome: ExportOutcome | None = None
        self.error: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in ENDED

    def start(self, worker: str) -> int:
        """Starts a new attempt; returns its number (the worker names it when it ends)."""
        EXPORT_STATUS.check(self.id, self.status, ExportStatus.RUNNING, "start")
        self.trigger_event(self.Started, worker=worker)
        return self.attempts

    def succeed(self, outcome: ExportOutcome, attempt: int | None = None) -> None:
        """`attempt`: the worker's; None for a result reported from outside (no fence)."""
        self.check_attempt(attempt, "succeed")
        EXPORT_STATUS.check(self.id, self.status, ExportStatus.SUCCEEDED, "succeed")
        self.trigger_event(self.Succeeded, outcome=outcome, attempt=attempt)

    def fail(self, reason: str, attempt: int | None = None) -> None:
        """`attempt`: the worker's; None for an end decided outside any attempt (the
        dead-letter queue, a reported result)."""
        self.check_attempt(attempt, "fail")
        EXPORT_STATUS.check(self.id, self.status, ExportStatus.FAILED, "fail")
        self.trigger_event(self.Failed, reason=reason, attempt=attempt)

    def retry(self, reason: str = "retried by an operator") -> None:
        """A failed export goes back to the queue (a new message is sent for it)."""
        EXPORT_STATUS.check(self.id, self.status, ExportStatus.QUEUED, "be retried")
        self.trigger_event(self.Retried, reason=reason, request=self.request)
