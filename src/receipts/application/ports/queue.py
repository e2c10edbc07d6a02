"""The message-queue port, shaped after SQS semantics (at-least-once delivery)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAX_VISIBILITY_TIMEOUT = 43_200.0
"""SQS's longest visibility timeout (12 h); every queue refuses a longer one."""

# SQS's other limits, which every adapter enforces alike (the contract suite checks them)
MAX_BATCH = 10
MAX_DELAY_SECONDS = 900
MAX_WAIT_SECONDS = 20.0
MAX_MESSAGE_BYTES = 256 * 1024
"""SQS's limit for one message body (UTF-8 bytes), and for the sum of a batch's bodies."""


class MessageTooLarge(ValueError):
    """A body over MAX_MESSAGE_BYTES; refused before anything is sent."""

    def __init__(self, queue: str, size: int) -> None:
        super().__init__(
            f"queue {queue!r}: message body is {size:,} bytes,"
            f" over the {MAX_MESSAGE_BYTES:,}-byte limit"
        )
        self.queue = queue
        self.size = size


class ReceiptHandleInvalid(ValueError):
    """The receipt handle is unknown, or belongs to an earlier delivery of the message."""

    def __init__(self, queue: str, receipt_handle: str) -> None:
        super().__init__(f"queue {queue!r}: receipt handle {receipt_handle!r} is not valid")
        self.queue = queue
        self.receipt_handle = receipt_handle


def check_delay(delay_seconds: int) -> None:
    if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay_seconds must be in 0..{MAX_DELAY_SECONDS}, got {delay_seconds}")


def check_body_size(queue: str, body: str) -> int:
    """The body's size in bytes; raises MessageTooLarge over the limit."""
    size = len(body.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(queue, size)
    return size


def check_visibility_timeout(timeout: float) -> None:
    if not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
        raise ValueError(
            f"visibility timeout must be in 0..{MAX_VISIBILITY_TIMEOUT:g} seconds, got {timeout}"
        )


def check_receive_args(
    max_messages: int, wait_seconds: float, visibility_timeout: float | None
) -> None:
    if not 1 <= max_messages <= MAX_BATCH:
        raise ValueError(f"max_messages must be in 1..{MAX_BATCH}, got {max_messages}")
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise ValueError(f"wait_seconds must be in 0..{MAX_WAIT_SECONDS:g}, got {wait_seconds}")
    if visibility_timeout is not None:
        check_visibility_timeout(visibility_timeout)


def check_redrive(max_receive_count: int | None, dead_letter_queue: MessageQueue | None) -> None:
    if (max_receive_count is None) != (dead_letter_queue is None):
        raise ValueError("max_receive_count and dead_letter_queue must be given together")
    if max_receive_count is not None and max_receive_count < 1:
        raise ValueError(f"max_receive_count must be at least 1, got {max_receive_count}")


@dataclass(frozen=True)
class QueueMessage:
    """One delivery of a message. `receipt_handle` identifies this delivery, not the message."""

    message_id: str
    body: str
    receipt_handle: str
    receive_count: int


@runtime_checkable
class MessageQueue(Protocol):
    """A queue with visibility timeouts, like SQS.

    A received message stays invisible for the visibility timeout; if it is not deleted
    in time it is delivered again with a higher `receive_count`. After
    `max_receive_count` deliveries (when the queue has a dead-letter queue) the message
    moves to the dead-letter queue instead of being delivered again.
    """

    @property
    def name(self) -> str: ...

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Enqueue `body`; returns the new message id."""
        ...

    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[QueueMessage]:
        """Up to `max_messages` (1..10) visible messages; waits up to `wait_seconds` for one."""
        ...

    def delete(self, receipt_handle: str) -> None:
        """Acknowledge a delivery; the message is gone for good."""
        ...

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        """Extend (heartbeat) or end (0) the invisibility of a received message."""
        ...

    def approximate_count(self) -> int:
        """Messages not yet deleted (visible or in flight)."""
        ...


@runtime_checkable
class AsyncMessageQueue(Protocol):
    """`MessageQueue` for asyncio code: the same semantics, awaited."""

    @property
    def name(self) -> str: ...

    async def send(self, body: str, *, delay_seconds: int = 0) -> str: ...

    async def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[QueueMessage]: ...

    async def delete(self, receipt_handle: str) -> None: ...

    async def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None: ...

    async def approximate_count(self) -> int: ...
