"""Safe extraction of tar archives (SageMaker's `model.tar.gz`) into one directory.

Every member is checked before anything is written, so a refused archive leaves the
target as it was (data found damaged only while it is written may leave part of the
archive in the target, never anything outside it). Refused: absolute names, `..`
segments, backslashes, devices and FIFOs, sparse files, a name used twice or both as a
file and a directory, links that leave the archive or point at something that is not a
file in it, and archives over the limits (members, bytes per member, bytes in all). Links
that stay inside are written as copies of their target, so the extracted tree holds only
directories and regular files: nothing in it can lead outside. Owners and mode bits are
ignored (files 0644, directories 0755).
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from receipts.application.ports.archives import ArchiveRefused

__all__ = ["ArchiveLimits", "SafeTarExtractor"]

GiB = 1024**3
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_LINK_DEPTH = 8
_CHUNK = 1024 * 1024

Parts = tuple[str, ...]


@dataclass(frozen=True)
class ArchiveLimits:
    """A base LayoutLM checkpoint is about 0.5 GB; the defaults leave room for 20 of them."""

    max_members: int = 10_000
    max_member_bytes: int = 8 * GiB
    max_total_bytes: int = 16 * GiB


@dataclass
class _Plan:
    directories: list[Parts] = field(default_factory=list)
    files: dict[Parts, tarfile.TarInfo] = field(default_factory=dict)
    links: dict[Parts, Parts] = field(default_factory=dict)  # link → the file it copies
    total_bytes: int = 0


class SafeTarExtractor:
    """`SafeTarExtractor().extract(Path("model.tar.gz"), work_dir)`: tar, tar.gz/bz2/xz."""

    def __init__(self, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits()

    def extract(self, archive: Path, target: Path) -> list[Path]:
        try:
            tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the `with` below
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise ArchiveRefused(f"{archive.name} is not a readable tar archive: {error}") from None
        with tar:
            try:
                plan = self._plan(tar, archive.name)
            except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
                raise ArchiveRefused(f"{archive.name} is damaged: {error}") from None
            target.mkdir(parents=True, exist_ok=True)
            root = target.resolve()
            try:
                return _write(tar, plan, root, archive.name)
            except (tarfile.TarError, EOFError, zlib.error) as error:
                raise ArchiveRefused(f"{archive.name} is damaged: {error}") from None

    def _plan(self, tar: tarfile.TarFile, archive: str) -> _Plan:
        plan = _Plan()
        symlinks: dict[Parts, Parts] = {}
        hardlinks: dict[Parts, Parts] = {}
        members = 0
        for member in tar:
            members += 1
            if members > self.limits.max_members:
                raise ArchiveRefused(f"{archive} has more than {self.limits.max_members:,} members")
            parts = _relative(member.name, archive)
            if not parts:
                if member.isdir():
                    continue  # "./": the target itself
                raise ArchiveRefused(f"{archive}: member {member.name!r} has an empty name")
            what = f"{archive}: member {member.name!r}"
            if parts in plan.files or parts in symlinks or parts in hardlinks:
                raise ArchiveRefused(f"{what} appears twice")
            if member.isdir():
                plan.directories.append(parts)
            elif member.issparse():
                raise ArchiveRefused(f"{what} is a sparse file")
            elif member.isreg():
                if member.size > self.limits.max_member_bytes:
                    raise ArchiveRefused(
                        f"{what} is {member.size:,} bytes, over the limit of"
                        f" {self.limits.max_member_bytes:,}"
                    )
                plan.files[parts] = member
                self._count(plan, member.size, archive)
            elif member.issym():
                symlinks[parts] = _symlink_target(parts, member.linkname, what)
            elif member.islnk():
                linked = _relative(member.linkname, archive)
                if not linked:
                    raise ArchiveRefused(f"{what} is a hard link with an empty target")
                hardlinks[parts] = linked
            elif member.ischr() or member.isblk():
                raise ArchiveRefused(f"{what} is a device file")
            elif member.isfifo():
                raise ArchiveRefused(f"{what} is a FIFO")
            else:
                raise ArchiveRefused(f"{what} has unsupported type {member.type!r}")
        for parts in [*symlinks, *hardlinks]:
            source = _resolve_link(parts, plan.files, symlinks, hardlinks, archive)
            plan.links[parts] = source
            self._count(plan, plan.files[source].size, archive)
        _check_tree(plan, archive)
        return plan

    def _count(self, plan: _Plan, size: int, archive: str) -> None:
        plan.total_bytes += size
        if plan.total_bytes > self.limits.max_total_bytes:
            raise ArchiveRefused(
                f"{archive} unpacks to more than {self.limits.max_total_bytes:,} bytes"
            )


def _relative(name: str, archive: str) -> Parts:
    """A member name as path parts under the target; refuses anything that could leave it."""
    what = f"{archive}: member {name!r}"
    if name.startswith("/") or _DRIVE.match(name):
        raise ArchiveRefused(f"{what} has an absolute path")
    if "\\" in name:
        raise ArchiveRefused(f"{what} has a backslash in its name")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ArchiveRefused(f"{what} has a '..' segment")
    return parts


def _symlink_target(parts: Parts, linkname: str, what: str) -> Parts:
    """Where a symlink points, as parts under the target (it must stay inside)."""
    if linkname.startswith("/") or _DRIVE.match(linkname):
        raise ArchiveRefused(f"{what} is a symlink to an absolute path ({linkname!r})")
    if "\\" in linkname:
        raise ArchiveRefused(f"{what} is a symlink with a backslash ({linkname!r})")
    resolved = list(parts[:-1])
    for part in linkname.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise ArchiveRefused(f"{what} is a symlink leaving the archive ({linkname!r})")
            resolved.pop()
        else:
            resolved.append(part)
    return tuple(resolved)


def _resolve_link(
    parts: Parts,
    files: dict[Parts, tarfile.TarInfo],
    symlinks: dict[Parts, Parts],
    hardlinks: dict[Parts, Parts],
    archive: str,
) -> Parts:
    """The regular file a link (or a chain of links) ends at."""
    current = parts
    for _ in range(_MAX_LINK_DEPTH):
        current = symlinks.get(current) or hardlinks[current]
        if current in files:
            return current
        if current not in symlinks and current not in hardlinks:
            raise ArchiveRefused(
                f"{archive}: link {'/'.join(parts)!r} points at {'/'.join(current)!r},"
                " which is not a file in the archive"
            )
    raise ArchiveRefused(
        f"{archive}: link {'/'.join(parts)!r} is a chain of more than {_MAX_LINK_DEPTH} links"
    )


def _check_tree(plan: _Plan, archive: str) -> None:
    """No name is both a file (or link) and a directory."""
    leaves = set(plan.files) | set(plan.links)
    for parts in [*plan.directories, *leaves]:
        for depth in range(1, len(parts)):
            if parts[:depth] in leaves:
                raise ArchiveRefused(
                    f"{archive}: {'/'.join(parts[:depth])!r} is a file and also a directory"
                )
    for parts in plan.directories:
        if parts in leaves:
            raise ArchiveRefused(f"{archive}: {'/'.join(parts)!r} is a file and also a directory")


def _write(tar: tarfile.TarFile, plan: _Plan, root: Path, archive: str) -> list[Path]:
    for parts in plan.directories:
        _inside(root, parts).mkdir(mode=0o755, parents=True, exist_ok=True)
    written: list[Path] = []
    for parts, member in plan.files.items():
        path = _inside(root, parts)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - a regular member always has a stream
            raise ArchiveRefused(f"{archive}: member {member.name!r} has no data")
        with source, _create(path) as out:
            copied = _copy(source, out)
        if copied != member.size:
            raise ArchiveRefused(
                f"{archive}: member {member.name!r} holds {copied:,} bytes,"
                f" its header says {member.size:,}"
            )
        written.append(path)
    for parts, source_parts in plan.links.items():
        path = _inside(root, parts)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        with _inside(root, source_parts).open("rb") as source_file, _create(path) as out:
            shutil.copyfileobj(source_file, out, _CHUNK)
        written.append(path)
    return written


def _inside(root: Path, parts: Parts) -> Path:
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root):  # the tree holds no links: cannot happen
        raise ArchiveRefused(f"{'/'.join(parts)!r} would be written outside {root}")
    return path


def _create(path: Path) -> IO[bytes]:
    """A new file (never an existing one, never through a symlink)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.fdopen(os.open(path, flags, 0o644), "wb")
    except FileExistsError:
        raise ArchiveRefused(f"{path} already exists: extract into an empty directory") from None


def _copy(source: IO[bytes], out: IO[bytes]) -> int:
    copied = 0
    while chunk := source.read(_CHUNK):
        out.write(chunk)
        copied += len(chunk)
    return copied
