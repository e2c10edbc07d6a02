"""The OCRJob aggregate: one receipt image through OCR and LayoutLM."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field

from receipts.domain.aggregate import Aggregate, AggregateCreated, ValueObject
from receipts.domain.artifacts import URIText
from receipts.domain.transitions import StatusMachine

OCREngineName = Literal["tesseract", "vision", "stub"]


class OCRStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class RoutingDecision(StrEnum):
    AUTO_ACCEPT = "auto_accept"
    NEEDS_REVIEW = "needs_review"


OCR_STATUS = StatusMachine[OCRStatus](
    "OCR job",
    {
        OCRStatus.PENDING: frozenset({OCRStatus.PROCESSING, OCRStatus.FAILED}),
        OCRStatus.PROCESSING: frozenset(
            {OCRStatus.PROCESSING, OCRStatus.COMPLETED, OCRStatus.FAILED}
        ),
        OCRStatus.COMPLETED: frozenset(),
        OCRStatus.FAILED: frozenset(),
    },
)


class OCRRequest(ValueObject):
    image_uri: URIText
    ocr_engine: OCREngineName = "tesseract"
    model_uri: URIText | None = None
    submitted_by: str = "unknown"


class OCROutcome(ValueObject):
    word_count: int = Field(ge=0)
    routing: RoutingDecision
    routing_reason: str = ""
    result_uris: dict[str, URIText] = Field(default_factory=dict)
    fields: dict[str, Any] = Field(default_factory=dict)
    line_items: list[dict[str, str]] = Field(default_factory=list)
    model_used: str | None = None
    ocr_engine: str | None = None
    receipt_id: str | None = None
    """The word-label record written for the receipt (label store id), reviewable."""
    labelled_words: int = Field(0, ge=0)
    """Words with an entity label (not O)."""
    ocr_seconds: float = Field(0.0, ge=0)
    inference_seconds: float = Field(0.0, ge=0)


class OCRJob(Aggregate):
    """pending → processing → completed | failed."""

    class Event(Aggregate.Event):
        pass

    class Submitted(Event, AggregateCreated):
        request: OCRRequest
        ocr_job_id: UUID | None = None

    class ProcessingStarted(Event):
        worker: str

        def apply(self, aggregate: Any) -> None:
            job: OCRJob = aggregate
            job.status = OCRStatus.PROCESSING
            job.worker = self.worker
            job.attempts += 1

    class Completed(Event):
        outcome: OCROutcome

        def apply(self, aggregate: Any) -> None:
            job: OCRJob = aggregate
            job.status = OCRStatus.COMPLETED
            job.outcome = self.outcome

    class Failed(Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            job: OCRJob = aggregate
            job.status = OCRStatus.FAILED
            job.error = self.reason

    @staticmethod
    def create_id(*_: Any, request: OCRRequest, ocr_job_id: UUID | None = None, **__: Any) -> UUID:
        """A given id (a job queued by hand with its own job_id), else a new one."""
        if ocr_job_id is not None:
            return ocr_job_id
        return Aggregate.create_id()

    @event(Submitted)
    def __init__(self, request: OCRRequest, ocr_job_id: UUID | None = None) -> None:
        self.request = request
        self.status = OCRStatus.PENDING
        self.attempts = 0
        self.worker: str | None = None
        self.outcome: OCROutcome | None = None
        self.error: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in OCR_STATUS.terminal

    def start(self, worker: str) -> None:
        OCR_STATUS.check(self.id, self.status, OCRStatus.PROCESSING, "start processing")
        self.trigger_event(self.ProcessingStarted, worker=worker)

    def complete(self, outcome: OCROutcome) -> None:
        OCR_STATUS.check(self.id, self.status, OCRStatus.COMPLETED, "complete")
        self.trigger_event(self.Completed, outcome=outcome)

    def fail(self, reason: str) -> None:
        OCR_STATUS.check(self.id, self.status, OCRStatus.FAILED, "fail")
        self.trigger_event(self.Failed, reason=reason)
