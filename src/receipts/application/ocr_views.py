"""OCR job records (the seeds' OCR Job): one per OCRJob, for queries."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from receipts.domain.aggregate import Timestamp
from receipts.domain.ocr_job import OCRJob, OCRStatus, RoutingDecision

OCR_EVENTS = (OCRJob.Submitted, OCRJob.ProcessingStarted, OCRJob.Completed, OCRJob.Failed)


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
            "attempts": record.attempts + 1,
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
    return record.model_copy(update=changes)
