"""Ports: the Protocols the application needs from the outside world."""

from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore
from receipts.application.ports.queue import MessageQueue, QueueMessage

__all__ = ["ArtifactNotFound", "ArtifactStore", "MessageQueue", "QueueMessage"]
