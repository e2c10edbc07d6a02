"""An artifact store on the local filesystem, confined to one root directory."""

from __future__ import annotations

import builtins
import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from receipts.application.ports.artifact_store import ArtifactNotFound
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI

_TEMP_PREFIX = ".~partial-"


class PathOutsideRoot(ValueError):
    """A URI (or a symlink on its path) leads outside the store's root directory."""

    def __init__(self, uri: str, root: Path) -> None:
        super().__init__(f"{uri} resolves outside the artifact root {root}")
        self.uri = uri
        self.root = root


@lru_cache(maxsize=1024)
def parse_uri(uri: str, scheme: str) -> ArtifactURI:
    """Parse `uri`, refusing any scheme but `scheme` (parsed URIs are frozen: cached)."""
    parsed = ArtifactURI.parse(uri)
    if parsed.scheme != scheme:
        raise InvalidArtifactURI(f"{uri!r}: this store only handles {scheme}:// URIs")
    return parsed


def parse_object_uri(uri: str, scheme: str) -> ArtifactURI:
    """Parse a URI that must name one object, not a prefix."""
    parsed = parse_uri(uri, scheme)
    if parsed.is_prefix:
        raise InvalidArtifactURI(f"{uri!r} names a prefix (ends with '/'), not an object")
    return parsed


def walk_files(directory: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every file under `directory`, sorted: `os.walk`'s
    (symlinked directories not entered, unreadable ones skipped), symlinks to files
    included, temporary files of unfinished writes left out."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    return sorted(
        (path.relative_to(directory).as_posix(), path)
        for folder, _, names in os.walk(directory)
        for path in (Path(folder, name) for name in names if not name.startswith(_TEMP_PREFIX))
        # os.path.isfile is False on any OSError; Path.is_file raises on EACCES
        if os.path.isfile(path)  # noqa: PTH113
    )


def upload_each(
    upload_file: Callable[[Path, str], object], directory: Path, base: ArtifactURI
) -> list[str]:
    """Uploads every file under `directory` below `base`; the URIs written."""
    uploads = [(str(base.join(relative)), path) for relative, path in walk_files(directory)]
    for uri, path in uploads:
        upload_file(path, uri)
    return [uri for uri, _ in uploads]


def _write_via_temp(
    target: Path, write: Callable[[BinaryIO], object], *, durable: bool = True
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{_TEMP_PREFIX}{target.name}.{uuid.uuid4().hex}")
    try:
        with temp.open("xb") as out:
            write(out)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomically(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `target` so readers see the old file or the new one, never a part.

    `durable` also fsyncs before the rename: wanted for the store's own objects, not for
    downloads into a caller's (often temporary) directory.
    """
    _write_via_temp(target, lambda out: out.write(data), durable=durable)


def copy_atomically(source: Path, target: Path, *, durable: bool = True) -> None:
    """Copy `source` to `target` atomically; FileNotFoundError (and no file) if it is missing."""
    with source.open("rb") as src:
        _write_via_temp(target, lambda out: shutil.copyfileobj(src, out), durable=durable)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created if missing) held by this process until the end
    of the block; the system releases it if the process dies."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LocalArtifactStore:
    """Stores artifacts as files under `root`, addressed by `file:///absolute/path` URIs.

    Every URI must resolve (symlinks included) to a path inside `root`.
    """

    scheme = "file"

    def __init__(self, root: Path) -> None:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self._root)!r})"

    def uri_for(self, path: Path) -> str:
        """The URI of `path` (relative paths are taken from the root); directories end in '/'."""
        absolute = Path(os.path.normpath(self._root / path))
        self._check_inside(str(absolute), absolute)
        uri = ArtifactURI.parse(f"file://{absolute.as_posix()}")
        return str(uri.as_prefix() if absolute.is_dir() else uri)

    def put_bytes(self, uri: str, data: bytes) -> None:
        write_atomically(self._object_path(uri), data)

    def get_bytes(self, uri: str) -> bytes:
        try:
            return self._object_path(uri).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFound(uri) from None

    def exists(self, uri: str) -> bool:
        return self._object_path(uri).is_file()

    def list(self, prefix: str) -> list[str]:
        base = parse_uri(prefix, self.scheme).as_prefix()
        directory = self._resolve(prefix, base)
        if not directory.is_dir():
            return []
        return sorted(
            str(base.join(relative))
            for relative, path in walk_files(directory)
            if path.resolve().is_relative_to(self._root)
        )

    def delete(self, uri: str) -> None:
        path = self._object_path(uri)
        with suppress(FileNotFoundError, NotADirectoryError):
            if not path.is_dir():
                path.unlink()

    def upload_file(self, path: Path, uri: str) -> None:
        copy_atomically(path, self._object_path(uri))

    def download_file(self, uri: str, path: Path) -> None:
        source = self._object_path(uri)
        if not source.is_file():
            raise ArtifactNotFound(uri)
        try:
            copy_atomically(source, path, durable=False)
        except FileNotFoundError as error:
            if error.filename == str(source):
                raise ArtifactNotFound(uri) from None
            raise

    def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]:
        return upload_each(self.upload_file, directory, parse_uri(prefix, self.scheme).as_prefix())

    def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]:
        base = str(parse_uri(prefix, self.scheme).as_prefix())
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for uri in self.list(prefix):
            target = directory / uri.removeprefix(base)
            copy_atomically(self._object_path(uri), target, durable=False)
            written.append(target)
        return written

    def publish_dir(self, staging: str, prefix: str) -> bool:
        source = self._resolve(staging, parse_uri(staging, self.scheme).as_prefix())
        target = self._resolve(prefix, parse_uri(prefix, self.scheme).as_prefix())
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target.with_name(f".{target.name}.publishing")):
            if not source.is_dir():
                return False
            replaced = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex}")
            if target.exists():
                target.rename(replaced)  # readers see the old tree, then none, then the new
            source.rename(target)
        shutil.rmtree(replaced, ignore_errors=True)
        return True

    def delete_dir(self, prefix: str) -> None:
        directory = self._resolve(prefix, parse_uri(prefix, self.scheme).as_prefix())
        shutil.rmtree(directory, ignore_errors=True)

    def _object_path(self, uri: str) -> Path:
        return self._resolve(uri, parse_object_uri(uri, self.scheme))

    def _resolve(self, uri: str, parsed: ArtifactURI) -> Path:
        path = Path("/" + parsed.key).resolve()
        self._check_inside(uri, path)
        return path

    def _check_inside(self, uri: str, path: Path) -> None:
        if not path.resolve().is_relative_to(self._root):
            raise PathOutsideRoot(uri, self._root)
