"""The archive port: unpacks a downloaded model archive (SageMaker's `model.tar.gz`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

GiB = 1024**3


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may unpack to; a base LayoutLM checkpoint is about 0.5 GB (1.1x
    compressed), and the defaults leave room for 20 of them. `max_ratio` bounds the unpacked
    bytes by the archive's own size (a bomb of zeros compresses about 1000x)."""

    max_members: int = 10_000
    max_member_bytes: int = 8 * GiB
    max_total_bytes: int = 16 * GiB
    max_ratio: float = 100.0


class ArchiveRefused(Exception):
    """The archive is unsafe, damaged or over a limit; nothing was written outside the target.

    The message names the member and the rule it broke."""


class ArchiveExtractor(Protocol):
    def extract(self, archive: Path, target: Path) -> list[Path]:
        """Unpacks `archive` into the empty directory `target` (created when missing); returns
        the files written, all under `target`. Raises ArchiveRefused."""
        ...
