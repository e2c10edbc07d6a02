"""The OCRJobs application: receipt images submitted for OCR and labelling."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from pydantic import ValidationError

from receipts.application.event_sourcing.conflicts import retry_on_conflict
from receipts.application.event_sourcing.persistence import PydanticApplication
from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput, OCRJobNotFound
from receipts.domain.ocr_job import OCRJob, OCROutcome, OCRRequest, OCRStatus

ResultRecorded = Literal["completed", "failed", "unchanged"]


class OCRJobs(PydanticApplication):
    name = "OCRJobs"

    def submit(self, image_uri: str, ocr_job_id: UUID | None = None, **fields: object) -> UUID:
        """Records a pending OCR job (queued by the dispatcher). With `ocr_job_id` (a job
        queued by hand under its own id) submitting again changes nothing."""
        try:
            request = OCRRequest.model_validate({"image_uri": image_uri, **fields})
        except ValidationError as error:
            raise InvalidInput("OCR job", validation_problems(error)) from None
        if ocr_job_id is not None and self.get_if_exists(ocr_job_id) is not None:
            return ocr_job_id
        job = OCRJob(request=request, ocr_job_id=ocr_job_id)
        self.save(job)
        return job.id

    def get_ocr_job(self, job_id: UUID) -> OCRJob:
        try:
            job: OCRJob = self.repository.get(job_id)
        except AggregateNotFoundError:
            raise OCRJobNotFound(job_id) from None
        return job

    def start(self, job_id: UUID, worker: str) -> OCRJob:
        job = self.get_ocr_job(job_id)
        job.start(worker)
        self.save(job)
        return job

    def complete(self, job_id: UUID, outcome: OCROutcome) -> None:
        job = self.get_ocr_job(job_id)
        job.complete(outcome)
        self.save(job)

    def fail(self, job_id: UUID, reason: str) -> None:
        job = self.get_ocr_job(job_id)
        job.fail(reason)
        self.save(job)

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
