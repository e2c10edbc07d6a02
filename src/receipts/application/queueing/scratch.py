"""Scratch trees of workers left behind by processes that died (SIGKILL, OOM).

Each export or OCR job works in `<temp>/receipts-<kind>-<pid>-<random>/`, removed on every
exit path the process lives through; `sweep_stale_scratch` (run when a worker starts)
removes the trees whose process no longer runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

Kind = Literal["export", "ocr"]
KINDS: tuple[Kind, ...] = ("export", "ocr")


def scratch_prefix(kind: Kind) -> str:
    """The prefix of this process's scratch trees of one kind of work."""
    return f"receipts-{kind}-{os.getpid()}-"


def sweep_stale_scratch(root: Path | None = None) -> list[Path]:
    """Removes the scratch trees under `root` (the temp dir) of processes that are gone;
    returns them. Trees not named with a pid are left alone."""
    root = Path(tempfile.gettempdir()) if root is None else root
    removed = []
    for kind in KINDS:
        for path in root.glob(f"receipts-{kind}-*-*"):
            pid = path.name.removeprefix(f"receipts-{kind}-").split("-", 1)[0]
            if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
