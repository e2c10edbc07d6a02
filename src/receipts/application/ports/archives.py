"""The archive port: unpacks a downloaded model archive (SageMaker's `model.tar.gz`)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ArchiveRefused(Exception):
    """The archive is unsafe, damaged or over a limit; nothing was written outside the target.

    The message names the member and the rule it broke."""


class ArchiveExtractor(Protocol):
    def extract(self, archive: Path, target: Path) -> list[Path]:
        """Unpacks `archive` into the empty directory `target` (created when missing); returns
        the files written, all under `target`. Raises ArchiveRefused."""
        ...
