"""An artifact store that keeps blobs in a dict, for tests and single-process runs."""

from __future__ import annotations

import bisect
import builtins
import threading
from pathlib import Path

from receipts.adapters.local.artifact_store import (
    parse_object_uri,
    parse_uri,
    walk_files,
    write_atomically,
)
from receipts.application.ports.artifact_store import ArtifactNotFound

__all__ = ["InMemoryArtifactStore"]


class InMemoryArtifactStore:
    """Stores artifacts under `memory://bucket/key` URIs in process memory."""

    scheme = "memory"

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._keys: builtins.list[str] = []  # sorted, so a prefix listing is a range
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryArtifactStore({len(self._objects)} objects)"

    def put_bytes(self, uri: str, data: bytes) -> None:
        self._put(self._key(uri), data)

    def _put(self, key: str, data: bytes) -> None:
        with self._lock:
            if key not in self._objects:
                bisect.insort(self._keys, key)
            self._objects[key] = bytes(data)

    def get_bytes(self, uri: str) -> bytes:
        key = self._key(uri)
        with self._lock:
            try:
                return self._objects[key]
            except KeyError:
                raise ArtifactNotFound(uri) from None

    def exists(self, uri: str) -> bool:
        key = self._key(uri)
        with self._lock:
            return key in self._objects

    def list(self, prefix: str) -> list[str]:
        return self._list(str(parse_uri(prefix, self.scheme).as_prefix()))

    def _list(self, base: str) -> builtins.list[str]:
        with self._lock:
            return self._range(base)

    def _range(self, base: str, *, remove: bool = False) -> builtins.list[str]:
        """The keys under `base`, taken out of the store with `remove` (the caller holds the
        lock)."""
        start = bisect.bisect_left(self._keys, base)
        end = bisect.bisect_left(self._keys, base + "\U0010ffff", lo=start)
        keys = self._keys[start:end]
        if remove:
            del self._keys[start:end]
            for key in keys:
                del self._objects[key]
        return keys

    def delete(self, uri: str) -> None:
        key = self._key(uri)
        with self._lock:
            if self._objects.pop(key, None) is not None:
                del self._keys[bisect.bisect_left(self._keys, key)]

    def upload_file(self, path: Path, uri: str) -> None:
        key = self._key(uri)  # a bad URI is refused before the file is read
        self._put(key, path.read_bytes())

    def download_file(self, uri: str, path: Path) -> None:
        write_atomically(path, self.get_bytes(uri), durable=False)

    def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]:
        base = parse_uri(prefix, self.scheme).as_prefix()
        written = []
        for relative, path in walk_files(directory):
            key = str(base.join(relative))
            self._put(key, path.read_bytes())
            written.append(key)
        return written

    def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]:
        base = str(parse_uri(prefix, self.scheme).as_prefix())
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for key in self._list(base):
            with self._lock:
                data = self._objects.get(key)
            if data is None:  # deleted since it was listed
                raise ArtifactNotFound(key)
            target = directory / key.removeprefix(base)
            write_atomically(target, data, durable=False)
            written.append(target)
        return written

    def publish_dir(self, staging: str, prefix: str) -> bool:
        source = str(parse_uri(staging, self.scheme).as_prefix())
        target = str(parse_uri(prefix, self.scheme).as_prefix())
        with self._lock:  # readers see the old tree or the new one, never a mix
            staged = {key: self._objects[key] for key in self._range(source)}
            if not staged:
                return False
            self._range(source, remove=True)
            self._range(target, remove=True)
            for key, data in staged.items():
                published = target + key.removeprefix(source)
                bisect.insort(self._keys, published)
                self._objects[published] = data
        return True

    def delete_dir(self, prefix: str) -> None:
        base = str(parse_uri(prefix, self.scheme).as_prefix())
        with self._lock:
            self._range(base, remove=True)

    def _key(self, uri: str) -> str:
        return str(parse_object_uri(uri, self.scheme))
