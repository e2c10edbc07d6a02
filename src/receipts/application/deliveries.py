"""What every queue worker does with a delivery, whatever the work: parse it or leave it
for the dead-letter queue, run it without letting one failure stop the loop, and delete or
release the message without failing when the queue does."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.application.worker_log import WorkerLog
from receipts.domain.errors import InvalidInput

Request = TypeVar("Request")
Outcome = TypeVar("Outcome", bound=str)


def handle_delivery(
    message: QueueMessage,
    queue: MessageQueue,
    log: WorkerLog,
    parse: Callable[[str], Request],
    work: Callable[[QueueMessage, Request], Outcome],
    describe: Callable[[Request], dict[str, str]],
) -> Outcome | str:
    """`work(message, parse(body))`; "poison" when the body is not a request (nothing to
    mark failed: the queue's redrive moves it to the DLQ), "error" when the work raised (the
    message comes back after its visibility timeout)."""
    try:
        request = parse(message.body)
    except InvalidInput as error:
        log.warning(
            "poison message left for the dead-letter queue",
            queue=queue.name,
            message_id=message.message_id,
            receive_count=message.receive_count,
            reason=str(error),
        )
        return "poison"
    try:
        return work(message, request)
    except Exception as error:
        log.error(
            "message handling failed; it comes back after its visibility timeout",
            message_id=message.message_id,
            error=f"{type(error).__name__}: {error}",
            exc_info=True,
            **describe(request),
        )
        return "error"


def delete_quietly(
    queue: MessageQueue, message: QueueMessage, log: WorkerLog, fields: dict[str, object]
) -> None:
    """Deletes a handled message; a failure is logged (a redelivery finds the work done)."""
    try:
        queue.delete(message.receipt_handle)
    except Exception as error:
        log.warning(
            "could not delete the message", error=f"{type(error).__name__}: {error}", **fields
        )


def release_quietly(queue: MessageQueue, message: QueueMessage, log: WorkerLog) -> None:
    """Makes a message visible again at once (another worker takes it)."""
    try:
        queue.change_visibility(message.receipt_handle, 0)
    except Exception as error:
        log.warning(
            "could not release the message; it comes back after its visibility timeout",
            message_id=message.message_id,
            error=f"{type(error).__name__}: {error}",
        )
