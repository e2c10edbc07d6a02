"""The message-queue port, shaped after SQS semantics (at-least-once delivery)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAX_VISIBILITY_TIMEOUT = 43_200.0
"""SQS's longest visibility timeout (12 h); every queue refuses a longer one."""


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
