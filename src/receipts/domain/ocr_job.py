"""The OCRJob aggregate: one receipt image through OCR and LayoutLM."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field

from receipts.domain.aggregate import Aggregate, AggregateCreated, ValueObject
from receipts.domain.artifacts import URIText
from receipts.domain.attempts import Attempts
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
        OCRStatus.FAILED: frozenset({OCRStatus.PENDING}),  # an operator's retry
    },
)
ENDED = frozenset({OCRStatus.COMPLETED, OCRStatus.FAILED})
"""Where a worker's work on a job ends (a failed job stays failed unless retried)."""


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


class OCRJob(Attempts[OCRStatus], Aggregate):
    """pending → processing → completed | failed; failed → pending (retry).

    Each start is a numbered attempt (1, 2, ...: `attempts` is the current one). A worker
    finishes the job naming its attempt, and only the current attempt of a processing job
    may (else StaleAttempt): an attempt taken over by a later one (its message came back
    to another worker) never completes or fails the job. Saving the event is the
    conditional write that decides between two attempts racing to finish."""

    WHAT = "OCR job"
    RUNNING = OCRStatus.PROCESSING

    class Event(Aggregate.Event):
        pass

    class Submitted(Event, AggregateCreated):
        request: OCRRequest
        ocr_job_id: UUID | None = None
        queued: bool = False
        """Recorded by a worker from a message already on the queue (nothing to send)."""

    class ProcessingStarted(Event):
        worker: str
        attempt: int = 0
        """The attempt this start begins (0 in events recorded before attempts had numbers:
        the next one)."""

        def apply(self, aggregate: Any) -> None:
            job: OCRJob = aggregate
            job.status = OCRStatus.PROCESSING
            job.worker = self.worker
            job.attempts = self.attempt or job.attempts + 1

    class Completed(Event):
        outcome: OCROutcome
        attempt: int | None = None
        """The attempt that completed the job (None: reported from outside, unfenced)."""

        def apply(self, aggregate: Any) -> None:
            job: OCRJob = aggregate
            job.status = OCRStatus.COMPLETED
            job.outcome = self.outcome

    class Failed(Event):
        reason: str
        attempt: int | None = None
        """The attempt that failed the job (None: failed from outside it, e.g. its message
        reached the dead-letter queue)."""

        def apply(self, aggregate: Any) -> None:
            job: OCRJob = aggregate
            job.status = OCRStatus.FAILED
            job.error = self.reason

    class Resubmitted(Event):
        """An operator's retry of a failed job: pending again, and queued again (the
        request is repeated for the dispatcher)."""

        request: OCRRequest
        requested_by: str
        previous_error: str | None = None

        def apply(self, aggregate: Any) -> None:
            job: OCRJob = aggregate
            job.status = OCRStatus.PENDING
            job.error = None
            job.queued_at_attempt = job.attempts

    @staticmethod
    def create_id(*_: Any, request: OCRRequest, ocr_job_id: UUID | None = None, **__: Any) -> UUID:
        """A given id (a job queued by hand with its own job_id), else a new one."""
        if ocr_job_id is not None:
            return ocr_job_id
        return Aggregate.create_id()

    @event(Submitted)
    def __init__(
        self, request: OCRRequest, ocr_job_id: UUID | None = None, queued: bool = False
    ) -> None:
        self.request = request
        self.status = OCRStatus.PENDING
        self.worker: str | None = None
        self.outcome: OCROutcome | None = None
        self.error: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Completed or failed: nothing more for a worker to do (a retry reopens a failed one)."""
        return self.status in ENDED

    def start(self, worker: str) -> int:
        """Begins the next attempt (taking over a running one) and returns its number."""
        OCR_STATUS.check(self.id, self.status, OCRStatus.PROCESSING, "start processing")
        self.trigger_event(self.ProcessingStarted, worker=worker, attempt=self.attempts + 1)
        return self.attempts

    def complete(self, outcome: OCROutcome, attempt: int | None = None) -> None:
        """`attempt`: the worker's attempt, refused (StaleAttempt) unless it is current."""
        self.check_attempt(attempt, "complete")
        OCR_STATUS.check(self.id, self.status, OCRStatus.COMPLETED, "complete")
        self.trigger_event(self.Completed, outcome=outcome, attempt=attempt)

    def fail(self, reason: str, attempt: int | None = None) -> None:
        """`attempt`: as for `complete`; None fails the job whatever attempt runs it."""
        self.check_attempt(attempt, "fail")
        OCR_STATUS.check(self.id, self.status, OCRStatus.FAILED, "fail")
        self.trigger_event(self.Failed, reason=reason, attempt=attempt)

    def retry(self, requested_by: str) -> None:
        """A failed job back to pending (its message is sent again)."""
        OCR_STATUS.check(self.id, self.status, OCRStatus.PENDING, "retry")
        self.trigger_event(
            self.Resubmitted,
            request=self.request,
            requested_by=requested_by,
            previous_error=self.error,
        )
