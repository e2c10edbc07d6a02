"""The queue dispatcher: an outbox relay from recorded events to work queues.

It follows Exports and OCRJobs. A message is sent for every ExportJob.Requested (unless a
worker recorded it from a message already queued) and ExportJob.Retried, and every
OCRJob.Submitted (unless a worker recorded it from a message already queued) and
OCRJob.Resubmitted. A message is sent only after the event that asks for it
is recorded, and the dispatcher's tracking position is recorded only after the send
succeeds, so every queued ExportJob / submitted OCRJob reaches its queue at least once,
also across crashes and processes. Workers are idempotent, so a repeat is harmless.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.system import ProcessApplication
from eventsourcing.utils import get_topic

from receipts.application.event_sourcing.persistence import PydanticApplication
from receipts.application.ports.queue import MessageQueue
from receipts.application.queueing.messages import ExportMessage, OCRMessage
from receipts.domain.export_job import ExportJob
from receipts.domain.ocr_job import OCRJob


class QueuesNotAttached(RuntimeError):
    pass


class QueueDispatcher(PydanticApplication, ProcessApplication[UUID]):
    name = "QueueDispatcher"
    topics = (
        get_topic(ExportJob.Requested),
        get_topic(ExportJob.Retried),
        get_topic(OCRJob.Submitted),
        get_topic(OCRJob.Resubmitted),
    )
    export_queue: MessageQueue | None = None
    ocr_queue: MessageQueue | None = None

    def attach(self, export_queue: MessageQueue, ocr_queue: MessageQueue) -> None:
        self.export_queue = export_queue
        self.ocr_queue = ocr_queue

    def policy(
        self,
        domain_event: DomainEventProtocol[UUID],
        processing_event: ProcessingEvent[UUID],
    ) -> None:
        if self.export_queue is None or self.ocr_queue is None:
            raise QueuesNotAttached("attach the export and OCR queues before dispatching")
        if isinstance(domain_event, ExportJob.Requested | ExportJob.Retried):
            request = domain_event.request
            if isinstance(domain_event, ExportJob.Requested) and request.requested_by == "queue":
                return  # recorded by a worker from a message already on the queue
            message = ExportMessage(
                export_id=domain_event.originator_id,
                job_id=str(request.source_job_name or request.source_job_id or ""),
                job_uuid=request.source_job_id,
                model_uri=request.checkpoint_uri,
                quantize=request.quantization,
                output_prefix=request.output_prefix,
            )
            self.export_queue.send(message.body())
        elif isinstance(domain_event, OCRJob.Submitted | OCRJob.Resubmitted):
            if isinstance(domain_event, OCRJob.Submitted) and domain_event.queued:
                return  # recorded by a worker from a message already on the queue
            ocr = OCRMessage(
                job_id=domain_event.originator_id,
                image_uri=domain_event.request.image_uri,
                ocr_engine=domain_event.request.ocr_engine,
            )
            self.ocr_queue.send(ocr.body())
