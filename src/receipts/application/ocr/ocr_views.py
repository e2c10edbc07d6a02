"""OCR job records (the seeds' OCR Job): one per OCRJob, for queries."""

from __future__ import annotations

from typing import Any

from receipts.application.ports.read_model import OCRRecord
from receipts.domain.ocr_job import OCRJob, OCRStatus

OCR_EVENTS = (
    OCRJob.Submitted,
    OCRJob.ProcessingStarted,
    OCRJob.Completed,
    OCRJob.Failed,
    OCRJob.Resubmitted,
)


def evolve_ocr(record: OCRRecord | None, event: Any, position: int) -> OCRRecord | None:
    """The record after one OCRJob event (pure, so projections are replayable)."""
    if isinstance(event, OCRJob.Submitted):
        request = event.request
        return OCRRecord(
            ocr_job_id=event.originator_id,
            status=OCRStatus.PENDING,
            image_uri=request.image_uri,
            ocr_engine=request.ocr_engine,
            submitted_by=request.submitted_by,
            created_at=event.timestamp,
            updated_at=event.timestamp,
            position=position,
        )
    if record is None:
        return None
    changes: dict[str, Any] = {"updated_at": event.timestamp, "position": position}
    if isinstance(event, OCRJob.ProcessingStarted):
        changes |= {
            "status": OCRStatus.PROCESSING,
            "worker": event.worker,
            "attempts": event.attempt or record.attempts + 1,
        }
    elif isinstance(event, OCRJob.Completed):
        outcome = event.outcome
        changes |= {
            "status": OCRStatus.COMPLETED,
            "word_count": outcome.word_count,
            "routing": outcome.routing,
            "result_uris": dict(outcome.result_uris),
        }
    elif isinstance(event, OCRJob.Failed):
        changes |= {"status": OCRStatus.FAILED, "error": event.reason}
    elif isinstance(event, OCRJob.Resubmitted):
        changes |= {"status": OCRStatus.PENDING, "error": None}
    return record.model_copy(update=changes)
