"""Export job records (the seeds' CoreMLExportJob): one per ExportJob, for queries."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from receipts.domain.aggregate import Timestamp
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.quantization import Quantization

EXPORT_EVENTS = (ExportJob.Requested, ExportJob.Started, ExportJob.Succeeded, ExportJob.Failed)


class ExportRecord(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    export_id: UUID
    status: ExportStatus
    source_job_id: UUID | None = None
    source_job_name: str | None = None
    checkpoint_uri: str
    quantization: Quantization
    output_prefix: str
    requested_by: str
    attempts: int = 0
    worker: str | None = None
    bundle_uri: str | None = None
    total_bytes: int | None = None
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    position: int = 0
    """The notification id of the last event applied (replays of older ones are ignored)."""


def evolve_export(record: ExportRecord | None, event: Any, position: int) -> ExportRecord | None:
    """The record after one ExportJob event (pure, so projections are replayable)."""
    if isinstance(event, ExportJob.Requested):
        request = event.request
        return ExportRecord(
            export_id=event.originator_id,
            status=ExportStatus.QUEUED,
            source_job_id=request.source_job_id,
            source_job_name=request.source_job_name,
            checkpoint_uri=request.checkpoint_uri,
            quantization=request.quantization,
            output_prefix=request.output_prefix,
            requested_by=request.requested_by,
            created_at=event.timestamp,
            updated_at=event.timestamp,
            position=position,
        )
    if record is None:
        return None
    changes: dict[str, Any] = {"updated_at": event.timestamp, "position": position}
    if isinstance(event, ExportJob.Started):
        changes |= {
            "status": ExportStatus.RUNNING,
            "worker": event.worker,
            "attempts": record.attempts + 1,
        }
    elif isinstance(event, ExportJob.Succeeded):
        changes |= {
            "status": ExportStatus.SUCCEEDED,
            "bundle_uri": event.outcome.bundle_uri,
            "total_bytes": event.outcome.total_bytes,
        }
    elif isinstance(event, ExportJob.Failed):
        changes |= {"status": ExportStatus.FAILED, "error": event.reason}
    return record.model_copy(update=changes)
