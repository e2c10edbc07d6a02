"""In-process adapters for tests and single-process runs."""

from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.adapters.memory.queue import (
    InMemoryQueue,
    ReceiptHandleInvalid,
    memory_queue,
    reset_memory_queues,
)

__all__ = [
    "InMemoryArtifactStore",
    "InMemoryQueue",
    "ReceiptHandleInvalid",
    "memory_queue",
    "reset_memory_queues",
]
