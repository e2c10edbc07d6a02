"""The Exports application and its policy: a succeeded job requests one CoreML export."""

from __future__ import annotations

import contextlib
from typing import Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError
from eventsourcing.system import ProcessApplication
from eventsourcing.utils import get_topic

from receipts.application.event_sourcing.conflicts import retry_on_conflict
from receipts.application.event_sourcing.persistence import PydanticApplication
from receipts.domain.errors import ExportJobNotFound
from receipts.domain.export_job import (
    ExportJob,
    ExportOutcome,
    ExportRequest,
    ExportStatus,
    default_output_prefix,
)
from receipts.domain.job import EXPORT_QUANTIZATION_TAG, SKIP_EXPORT_TAG, TRUTHY, Job
from receipts.domain.quantization import Quantization

ResultRecorded = Literal["succeeded", "failed", "unchanged"]


def auto_export_request(succeeded: Job.Succeeded) -> ExportRequest | None:
    """The export a succeeded job asks for, or None when it is tagged to skip it."""
    tags: dict[str, str] = succeeded.tags
    if tags.get(SKIP_EXPORT_TAG, "").strip().lower() in TRUTHY:
        return None
    quantization = Quantization(tags.get(EXPORT_QUANTIZATION_TAG, Quantization.FLOAT16.value))
    checkpoint_uri: str = succeeded.results.best_checkpoint_uri
    return ExportRequest(
        source_job_id=succeeded.originator_id,
        source_job_name=succeeded.job_name,
        checkpoint_uri=checkpoint_uri,
        quantization=quantization,
        output_prefix=default_output_prefix(checkpoint_uri, succeeded.job_name),
        requested_by="auto",
    )


class Exports(PydanticApplication, ProcessApplication[UUID]):
    name = "Exports"
    topics = (get_topic(Job.Succeeded),)

    def policy(
        self,
        domain_event: DomainEventProtocol[UUID],
        processing_event: ProcessingEvent[UUID],
    ) -> None:
        if isinstance(domain_event, Job.Succeeded):
            request = auto_export_request(domain_event)
            if request is None:
                return
            export_id = ExportJob.auto_id_for(domain_event.originator_id)
            if self._exists(export_id):
                return
            processing_event.collect_events(ExportJob(request=request, export_id=export_id))

    def request_export(self, request: ExportRequest, export_id: UUID | None = None) -> UUID:
        """Records a queued export; asking again with the same export_id changes nothing."""
        if export_id is not None and self._exists(export_id):
            return export_id
        export = ExportJob(request=request, export_id=export_id)
        with contextlib.suppress(IntegrityError):
            self.save(export)
        return export.id

    def get_export(self, export_id: UUID) -> ExportJob:
        try:
            export: ExportJob = self.repository.get(export_id)
        except AggregateNotFoundError:
            raise ExportJobNotFound(export_id) from None
        return export

    def record_result(
        self, export_id: UUID, outcome: ExportOutcome | None, error: str, *, worker: str
    ) -> ResultRecorded:
        """Records what a worker reported: succeeded with `outcome`, else failed with
        `error`. An export already ended is left as it is ("unchanged"); one still queued
        is started by `worker` first. A concurrent save is decided again on its state."""

        def record() -> ResultRecorded:
            export = self.get_export(export_id)
            if export.is_terminal:
                return "unchanged"
            if outcome is None:
                export.fail(error)
                self.save(export)
                return "failed"
            if export.status is ExportStatus.QUEUED:
                export.start(worker)
            export.succeed(outcome)
            self.save(export)
            return "succeeded"

        return retry_on_conflict(record)

    def auto_export_of(self, job_id: UUID) -> ExportJob | None:
        export: ExportJob | None = self.get_if_exists(ExportJob.auto_id_for(job_id))
        return export

    def start_export(self, export_id: UUID, worker: str) -> ExportJob:
        """A new attempt (`export.attempts` numbers it); a concurrent start makes this one
        the next attempt."""

        def start() -> ExportJob:
            export = self.get_export(export_id)
            export.start(worker)
            self.save(export)
            return export

        return retry_on_conflict(start)

    def complete_export(
        self, export_id: UUID, outcome: ExportOutcome, attempt: int | None = None
    ) -> ExportJob:
        """Raises StaleAttempt when `attempt` is not the current one, also when another
        save won meanwhile (decided again on the state it left)."""

        def complete() -> ExportJob:
            export = self.get_export(export_id)
            export.succeed(outcome, attempt)
            self.save(export)
            return export

        return retry_on_conflict(complete)

    def fail_export(self, export_id: UUID, reason: str, attempt: int | None = None) -> ExportJob:
        """As `complete_export`; without an attempt, any export not ended is failed."""

        def fail() -> ExportJob:
            export = self.get_export(export_id)
            export.fail(reason, attempt)
            self.save(export)
            return export

        return retry_on_conflict(fail)

    def retry_export(self, export_id: UUID, reason: str = "retried by an operator") -> ExportJob:
        """A failed export back to queued; the relay sends its message again."""

        def retry() -> ExportJob:
            export = self.get_export(export_id)
            export.retry(reason)
            self.save(export)
            return export

        return retry_on_conflict(retry)

    def _exists(self, export_id: UUID) -> bool:
        return self.get_if_exists(export_id) is not None
