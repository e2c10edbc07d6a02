"""The OCRJobs application: receipt images submitted for OCR and labelling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from pydantic import ValidationError

from receipts.application.event_sourcing.conflicts import retry_on_conflict
from receipts.application.event_sourcing.persistence import PydanticApplication
from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.application.queueing.dead_letters import settle_dead_letters
from receipts.application.queueing.messages import DeadOCRMessage
from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput, OCRJobNotFound
from receipts.domain.ocr_job import OCRJob, OCROutcome, OCRRequest, OCRStatus

ResultRecorded = Literal["completed", "failed", "unchanged"]


class OCRJobs(PydanticApplication):
    name = "OCRJobs"

    def submit(
        self,
        image_uri: str,
        ocr_job_id: UUID | None = None,
        *,
        queued: bool = False,
        **fields: object,
    ) -> UUID:
        """Records a pending OCR job (queued by the dispatcher unless `queued`: recorded
        from a message already on the queue). With `ocr_job_id` (a job queued by hand under
        its own id) submitting again changes nothing."""
        try:
            request = OCRRequest.model_validate({"image_uri": image_uri, **fields})
        except ValidationError as error:
            raise InvalidInput("OCR job", validation_problems(error)) from None
        if ocr_job_id is not None and self.get_if_exists(ocr_job_id) is not None:
            return ocr_job_id
        job = OCRJob(request=request, ocr_job_id=ocr_job_id, queued=queued)
        self.save(job)
        return job.id

    def get_ocr_job(self, job_id: UUID) -> OCRJob:
        try:
            job: OCRJob = self.repository.get(job_id)
        except AggregateNotFoundError:
            raise OCRJobNotFound(job_id) from None
        return job

    def start(self, job_id: UUID, worker: str) -> OCRJob:
        """Begins the job's next attempt (`attempts` is its number). Two workers starting at
        once get two attempts; the later one is current."""

        def record() -> OCRJob:
            job = self.get_ocr_job(job_id)
            job.start(worker)
            self.save(job)
            return job

        return retry_on_conflict(record)

    def complete(self, job_id: UUID, outcome: OCROutcome, attempt: int | None = None) -> None:
        """Raises StaleAttempt when `attempt` is not the job's current one: the save of the
        winning attempt's event is the conditional write (a concurrent save is decided
        again on the state it left)."""

        def record() -> None:
            job = self.get_ocr_job(job_id)
            job.complete(outcome, attempt)
            self.save(job)

        retry_on_conflict(record)

    def fail(self, job_id: UUID, reason: str, attempt: int | None = None) -> None:
        """As `complete`; without `attempt` it fails the job whatever attempt runs it."""

        def record() -> None:
            job = self.get_ocr_job(job_id)
            job.fail(reason, attempt)
            self.save(job)

        retry_on_conflict(record)

    def retry(self, job_id: UUID, requested_by: str) -> OCRJob:
        """A failed job back to pending; the dispatcher queues it again. Raises
        IllegalTransition naming its status when it is not failed."""

        def record() -> OCRJob:
            job = self.get_ocr_job(job_id)
            job.retry(requested_by)
            self.save(job)
            return job

        return retry_on_conflict(record)

    def fail_dead_letters(
        self, dead_letters: MessageQueue, publish: Callable[[UUID], None] | None = None
    ) -> list[UUID]:
        """Ends `failed`, with the reason, every OCR job whose message is in the dead-letter
        queue, and deletes those messages (a retry sends a new one); returns the jobs it
        failed. A job already ended only loses its dead letter (a completed one after
        `publish(job_id)`, which publishes what its worker could not; when that fails the
        letter stays); a message queued by hand for a job never recorded records it first.
        A message naming no job is left for an operator. Running it again changes nothing."""
        failed: list[UUID] = []

        def settle(message: QueueMessage) -> None:
            job_id = self._fail_dead_letter(message.body, dead_letters.name, publish)
            if job_id is not None:
                failed.append(job_id)

        settle_dead_letters(dead_letters, settle)  # one naming no job stays for an operator
        return failed

    def _fail_dead_letter(
        self, body: str, queue: str, publish: Callable[[UUID], None] | None
    ) -> UUID | None:
        letter = DeadOCRMessage.parse(body)
        if self.get_if_exists(letter.job_id) is None:
            if letter.image_uri is None:
                raise InvalidInput("dead letter", [f"OCR job {letter.job_id} was never recorded"])
            self.submit(
                letter.image_uri,
                ocr_job_id=letter.job_id,
                queued=True,
                ocr_engine=letter.ocr_engine or "tesseract",
                submitted_by="queue",
            )
        reason = (
            f"its message reached the dead-letter queue {queue}: every delivery of it failed"
            " or was abandoned (see the worker's log); `receipts ocr-retry` queues it again"
        )

        def record() -> UUID | None:
            job = self.get_ocr_job(letter.job_id)
            if job.status is OCRStatus.COMPLETED and publish is not None:
                publish(job.id)
            if job.is_terminal:
                return None
            job.fail(reason)
            self.save(job)
            return job.id

        return retry_on_conflict(record)

    def record_result(
        self, job_id: UUID, outcome: OCROutcome | None, error: str, *, worker: str
    ) -> ResultRecorded:
        """Records what a worker reported: completed with `outcome`, else failed with
        `error`. A job already ended is left as it is ("unchanged"); one still pending is
        started by `worker` first. A concurrent save is decided again on its state."""

        def record() -> ResultRecorded:
            job = self.get_ocr_job(job_id)
            if job.is_terminal:
                return "unchanged"
            if outcome is None:
                job.fail(error)
                self.save(job)
                return "failed"
            if job.status is OCRStatus.PENDING:
                job.start(worker)
            job.complete(outcome)
            self.save(job)
            return "completed"

        return retry_on_conflict(record)
