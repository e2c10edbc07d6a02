"""Adapters backed by the local filesystem."""

from receipts.adapters.local.artifact_store import LocalArtifactStore, PathOutsideRoot

__all__ = ["LocalArtifactStore", "PathOutsideRoot"]
