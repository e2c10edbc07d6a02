"""Safe extraction of tar archives (SageMaker's `model.tar.gz`) into an empty directory.

The stdlib's `data` filter (PEP 706) checks each member as it is written: names and links
stay inside (leading slashes dropped), no devices or FIFOs, no setuid or group/other write
bits, owners ignored. Added where it falls short (each case measured on Python 3.11.7):
- limits (members, bytes per member, bytes in all, and bytes in all over the archive's own
  size), checked on every header before anything is written: a bomb is refused at the first
  header that passes a limit;
- links become hard links to the regular file they end at, never symlinks: symlinks written
  earlier take the filter's realpath past PATH_MAX, out of the target (CVE-2025-4517, fixed
  in 3.11.13); links to anything else are refused;
- a name used twice is refused (directories aside): tarfile meets a hard link over an
  existing name by writing the earlier member unfiltered (as root, with its owner);
- the files go to a temporary sibling, moved in once all are written: a refused or damaged
  archive leaves the target as it was.
"""

from __future__ import annotations

import posixpath
import tarfile
import tempfile
import zlib
from pathlib import Path

from receipts.application.ports.archives import ArchiveLimits, ArchiveRefused

__all__ = ["ArchiveLimits", "SafeTarExtractor"]

_READ_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)


class SafeTarExtractor:
    """`SafeTarExtractor().extract(Path("model.tar.gz"), work_dir)`: tar, tar.gz/bz2/xz."""

    def __init__(self, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits()

    def extract(self, archive: Path, target: Path) -> list[Path]:
        if target.exists() and any(target.iterdir()):
            raise ArchiveRefused(f"{target} is not empty: extract into an empty directory")
        try:
            tar = tarfile.open(archive, "r:*", errorlevel=2)  # noqa: SIM115 - the `with` closes it
        except _READ_ERRORS as error:
            raise ArchiveRefused(f"{archive.name} is not a readable tar archive: {error}") from None

        def checked(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
            member = tarfile.data_filter(member, dest)
            if member.issym() or member.islnk():
                member = member.replace(linkname=_file_behind(member, members, archive.name))
                member.type = tarfile.LNKTYPE
            return member

        with tar:
            members = self._headers(tar, archive.name, max(1, archive.stat().st_size))
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".{target.name}-", dir=target.parent) as tmp:
                # links last, so that the file each one names is already written
                for member in sorted(members.values(), key=lambda m: m.issym() or m.islnk()):
                    try:
                        tar.extract(member, tmp, filter=checked)
                    except tarfile.FilterError as error:
                        raise ArchiveRefused(f"{archive.name}: {error}") from None
                    except _READ_ERRORS as error:
                        problem = getattr(error, "strerror", None) or error  # not the tmp path
                        raise ArchiveRefused(
                            f"{archive.name}: member {member.name!r} cannot be unpacked: {problem}"
                        ) from None
                target.mkdir(exist_ok=True)
                for entry in Path(tmp).iterdir():
                    entry.rename(target / entry.name)
        return sorted(path for path in target.rglob("*") if path.is_file())

    def _headers(
        self, tar: tarfile.TarFile, archive: str, archive_bytes: int
    ) -> dict[str, tarfile.TarInfo]:
        """Every member by its normalised name, within the limits and none named twice."""
        limits, total, members = self.limits, 0, {}
        most_total = min(limits.max_total_bytes, int(limits.max_ratio * archive_bytes))
        try:
            for count, member in enumerate(tar, 1):
                what = f"{archive}: member {member.name!r}"
                if count > limits.max_members:
                    raise ArchiveRefused(f"{archive} has more than {limits.max_members:,} members")
                if (size := member.size) > (most := limits.max_member_bytes):
                    raise ArchiveRefused(f"{what} is {size:,} bytes, over the limit of {most:,}")
                if (total := total + size) > most_total:
                    raise ArchiveRefused(_over_total(archive, total, limits, archive_bytes))
                name = posixpath.normpath(member.name.lstrip("/"))
                if name in members and not member.isdir():
                    raise ArchiveRefused(f"{what} appears twice")
                members[name] = member
        except _READ_ERRORS as error:
            raise ArchiveRefused(f"{archive} is damaged: {error}") from None
        return members


def _over_total(archive: str, total: int, limits: ArchiveLimits, size: int) -> str:
    if total > limits.max_total_bytes:
        most = limits.max_total_bytes
        return f"{archive} unpacks to more than {most:,} bytes (RECEIPTS_MAX_ARCHIVE_BYTES)"
    return (
        f"{archive} unpacks to more than {limits.max_ratio:g} times its {size:,} bytes"
        " (RECEIPTS_MAX_ARCHIVE_RATIO): a likely decompression bomb"
    )


def _file_behind(link: tarfile.TarInfo, members: dict[str, tarfile.TarInfo], archive: str) -> str:
    """The name of the regular file a link (or a chain of links) ends at."""
    seen: set[str] = set()
    member: tarfile.TarInfo | None = link
    while member is not None and (member.issym() or member.islnk()):
        base = posixpath.dirname(member.name) if member.issym() else ""
        name = posixpath.normpath(posixpath.join(base, member.linkname).lstrip("/"))
        if name in seen:
            raise ArchiveRefused(f"{archive}: link {link.name!r} is part of a loop of links")
        seen.add(name)
        member = members.get(name)
    if member is None or not member.isreg():
        raise ArchiveRefused(
            f"{archive}: link {link.name!r} points at {name!r}, which is not a file in the archive"
        )
    return name
