"""The artifact-store port: blobs and directory trees addressed by URI."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Protocol, runtime_checkable


class ArtifactNotFound(LookupError):
    """No artifact exists at the given URI."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"no artifact at {uri}")
        self.uri = uri


@runtime_checkable
class ArtifactStore(Protocol):
    """Stores artifacts (checkpoints, bundles, images, OCR results) under URIs.

    URIs use the store's scheme (`file://`, `memory://`, `s3://`). A "prefix" URI
    ending in `/` names a directory tree. Writes are atomic per object: a reader sees
    the old content or the new, never a partial file.
    """

    scheme: str

    def put_bytes(self, uri: str, data: bytes) -> None: ...

    def get_bytes(self, uri: str) -> bytes:
        """Raises ArtifactNotFound when nothing is stored at `uri`."""
        ...

    def exists(self, uri: str) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """URIs of all objects under `prefix`, sorted."""
        ...

    def delete(self, uri: str) -> None:
        """Removes one object; no error when it is already gone."""
        ...

    def upload_file(self, path: Path, uri: str) -> None: ...

    def download_file(self, uri: str, path: Path) -> None:
        """Raises ArtifactNotFound; never leaves a partial file at `path`."""
        ...

    def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]:
        """Uploads every file under `directory`; returns the URIs written."""
        ...

    def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]:
        """Downloads every object under `prefix`; returns the local paths written."""
        ...

    def publish_dir(self, staging: str, prefix: str) -> bool:
        """Replaces the tree under `prefix` with the one staged under `staging` and removes
        the staging, all or nothing for readers; False (and no change) when nothing is
        staged there (already published, or never staged). Files: one rename of the
        directory; memory: under the store's lock; S3: copies with `PUBLISHED_MARKER` last
        (a tree without it is not published: readers ignore it)."""
        ...

    def delete_dir(self, prefix: str) -> None:
        """Removes every object under `prefix`; no error when there is none."""
        ...


PUBLISHED_MARKER = "manifest.json"
"""The file that a published tree (a bundle) holds and that publishing writes last."""


@runtime_checkable
class AsyncArtifactStore(Protocol):
    """`ArtifactStore` for asyncio code: the same semantics, awaited."""

    scheme: str

    async def put_bytes(self, uri: str, data: bytes) -> None: ...

    async def get_bytes(self, uri: str) -> bytes: ...

    async def exists(self, uri: str) -> bool: ...

    async def list(self, prefix: str) -> builtins.list[str]: ...

    async def delete(self, uri: str) -> None: ...

    async def upload_file(self, path: Path, uri: str) -> None: ...

    async def download_file(self, uri: str, path: Path) -> None: ...

    async def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]: ...

    async def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]: ...

    async def publish_dir(self, staging: str, prefix: str) -> bool: ...

    async def delete_dir(self, prefix: str) -> None: ...
