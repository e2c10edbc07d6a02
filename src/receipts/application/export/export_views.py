"""Export job records (the seeds' CoreMLExportJob): one per ExportJob, for queries."""

from __future__ import annotations

from typing import Any

from receipts.application.ports.read_model import ExportRecord
from receipts.domain.export_job import ExportJob, ExportStatus

EXPORT_EVENTS = (
    ExportJob.Requested,
    ExportJob.Started,
    ExportJob.Succeeded,
    ExportJob.Failed,
    ExportJob.Retried,
)


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
    elif isinstance(event, ExportJob.Retried):
        changes |= {"status": ExportStatus.QUEUED, "error": None, "worker": None}
    return record.model_copy(update=changes)
