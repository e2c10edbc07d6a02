"""In-process adapters for tests and single-process runs."""

from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.adapters.memory.queue import InMemoryQueue, memory_queue, reset_memory_queues

__all__ = [
    "InMemoryArtifactStore",
    "InMemoryQueue",
    "memory_queue",
    "reset_memory_queues",
]
