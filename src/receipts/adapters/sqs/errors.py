"""Errors of the SQS adapters (sync and async share them)."""

from __future__ import annotations

from receipts.application.ports.queue import ReceiptHandleInvalid
from receipts.application.ports.resources import ResourceMissing

__all__ = [
    "BatchPartlyRefused",
    "InvalidMessageBody",
    "MessageRefused",
    "MessageTooLarge",
    "QueueMissing",
    "ReceiptHandleInvalid",
]


class QueueMissing(ResourceMissing):
    """The queue (by name or URL) does not exist."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"SQS queue {queue!r} does not exist")
        self.queue = queue


class MessageRefused(ValueError):
    """A message body SQS would refuse; raised before anything is sent."""

    def __init__(self, queue: str, reason: str) -> None:
        super().__init__(f"SQS queue {queue!r}: message refused: {reason}")
        self.queue = queue
        self.reason = reason


class MessageTooLarge(MessageRefused):
    def __init__(self, queue: str, size: int, limit: int, what: str = "message body") -> None:
        super().__init__(queue, f"{what} is {size:,} bytes, over the {limit:,}-byte limit")
        self.size = size
        self.limit = limit


class InvalidMessageBody(MessageRefused):
    """Empty, or holding characters SQS does not accept (most control characters)."""


class BatchPartlyRefused(RuntimeError):
    """SQS refused some entries of a batch; the others were sent."""

    def __init__(self, queue: str, refused: dict[int, str], sent: dict[int, str]) -> None:
        listed = ", ".join(f"#{index}: {reason}" for index, reason in sorted(refused.items()))
        super().__init__(f"SQS queue {queue!r} refused messages {listed}")
        self.queue = queue
        self.refused = refused
        self.sent = sent
