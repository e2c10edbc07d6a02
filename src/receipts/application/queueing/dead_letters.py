"""Reading a dead-letter queue once: the loop both workers' sweeps share."""

from __future__ import annotations

from collections.abc import Callable

from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.domain.errors import DomainError, InvalidInput

_HIDE_SECONDS = 60.0
"""How long a message stays hidden during a pass, so the pass reads each once."""


def settle_dead_letters(
    queue: MessageQueue, settle: Callable[[QueueMessage], None]
) -> dict[str, str]:
    """Calls `settle` on every message of the dead-letter `queue` and deletes it; a message
    `settle` refuses (InvalidInput, DomainError: it names no job this side can end) stays,
    visible again at once for a person to read. Returns message id → why it stayed."""
    left: dict[str, str] = {}
    handles: list[str] = []
    while messages := queue.receive(max_messages=10, visibility_timeout=_HIDE_SECONDS):
        for message in messages:
            try:
                settle(message)
            except (InvalidInput, DomainError) as error:
                left[message.message_id] = str(error)
                handles.append(message.receipt_handle)
                continue
            queue.delete(message.receipt_handle)
    for handle in handles:
        queue.change_visibility(handle, 0)
    return left
