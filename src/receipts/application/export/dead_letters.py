"""Exports whose message reached the dead-letter queue end `failed`, with the reason.

A message lands in the export DLQ when it was delivered `max_receive_count` times without
being deleted: the workers that took it kept dying (or kept hitting an unexpected error).
Its ExportJob would otherwise stay queued or running for ever. `fail_dead_letters` reads
the DLQ, fails each named export that has not ended and deletes its message (the failed
ExportJob keeps the record; `receipts exports retry` queues it again). It is idempotent;
a message that is not an export request, or names no recorded export, is left in the DLQ
for a person to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from receipts.application.export.exports import Exports
from receipts.application.export.publishing import publish_bundle
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.application.queueing.dead_letters import settle_dead_letters
from receipts.application.queueing.messages import ExportMessage
from receipts.domain.errors import IllegalTransition
from receipts.domain.export_job import ExportStatus


@dataclass
class DeadLetters:
    failed: list[UUID] = field(default_factory=list)
    """Exports failed by this pass."""
    ended: list[UUID] = field(default_factory=list)
    """Exports that had already ended (their message is deleted too)."""
    left: dict[str, str] = field(default_factory=dict)
    """Message id → why it was left in the DLQ."""


def dead_letter_reason(queue: MessageQueue, deliveries: int) -> str:
    return f"moved to the dead-letter queue {queue.name} after {deliveries} deliveries"


def fail_dead_letters(
    exports: Exports, artifacts: ArtifactStore, queue: MessageQueue, deliveries: int
) -> DeadLetters:
    """Fails the export of every message in the export DLQ `queue`; `deliveries` is the
    source queue's redrive limit (max_receive_count), named in the reason. A succeeded
    export whose worker died before publishing its bundle gets it published here."""
    seen = DeadLetters()
    reason = dead_letter_reason(queue, deliveries)

    def settle(message: QueueMessage) -> None:
        export = exports.get_export(ExportMessage.parse(message.body).export_id)
        if export.is_terminal:
            if export.status is ExportStatus.SUCCEEDED:
                publish_bundle(artifacts, export)
            seen.ended.append(export.id)
            return
        try:
            exports.fail_export(export.id, reason)
            seen.failed.append(export.id)
        except IllegalTransition:  # ended meanwhile
            seen.ended.append(export.id)

    seen.left = settle_dead_letters(queue, settle)
    return seen
