"""Scratch trees of exports left behind by processes that died (SIGKILL, OOM).

Each export works in `<temp>/receipts-export-<pid>-<random>/`, removed on every exit path
the process lives through; `sweep_stale_scratch` (run when a worker starts) removes the
trees whose process no longer runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

SCRATCH_PREFIX = "receipts-export-"


def scratch_prefix() -> str:
    """The prefix of this process's scratch trees."""
    return f"{SCRATCH_PREFIX}{os.getpid()}-"


def sweep_stale_scratch(root: Path | None = None) -> list[Path]:
    """Removes the scratch trees under `root` (the temp dir) of processes that are gone;
    returns them. Trees not named with a pid are left alone."""
    root = Path(tempfile.gettempdir()) if root is None else root
    removed = []
    for path in root.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = path.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
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
