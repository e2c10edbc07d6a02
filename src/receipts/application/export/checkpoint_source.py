"""Where the export worker finds a checkpoint: a prefix (a directory of files) or one
archive object (SageMaker's `model.tar.gz`), fetched by `application.model_files` (the
loader every consumer of a model shares) into the worker's scratch.

The checkpoint is the directory holding `config.json`: the root of what was downloaded or
its `best/` (a run's folder). Weights must be safetensors: a checkpoint with only pickled
weights (`pytorch_model.bin`) is refused, since loading a pickle can run any code.
"""

from __future__ import annotations

import os
from pathlib import Path

from receipts.application.model_files import fetch_model, model_root
from receipts.application.ports.archives import ArchiveExtractor
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.exporter import ExportFailed
from receipts.application.ports.predictor import ModelUnusable

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model.pt")


def fetch_checkpoint(
    artifacts: ArtifactStore, uri: str, target: Path, extractor: ArchiveExtractor | None
) -> Path:
    """Downloads (and unpacks) the checkpoint at `uri` under `target` (`fetch_model`, the
    one loader); returns its directory. Raises ExportFailed (or ArchiveRefused) naming the
    problem."""
    try:
        root = fetch_model(artifacts, uri, target, extractor)
    except ModelUnusable as error:
        raise ExportFailed(str(error)) from None
    return locate_checkpoint(root, uri)


def locate_checkpoint(root: Path, uri: str) -> Path:
    """The directory with config.json: `root`, `root/best`, or root's one subdirectory."""
    listing = _listing(root)
    candidates: list[tuple[Path, dict[str, bool] | None]] = [(root, listing), (root / "best", None)]
    if model_root(root) != root:
        candidates.append((model_root(root), None))  # an archive of one folder (`model/...`)
    for candidate, files in candidates:
        files = _listing(candidate) if files is None else files
        if files.get("config.json"):
            check_weights(candidate, uri, files)
            return candidate
    raise ExportFailed(f"{uri} holds no checkpoint: no config.json at its root or in best/")


def check_weights(checkpoint: Path, uri: str, listing: dict[str, bool] | None = None) -> None:
    """Refuses a checkpoint whose only weights are pickled. `listing`: its `_listing`."""
    files = _listing(checkpoint) if listing is None else listing
    if any(files.get(name) for name in SAFE_WEIGHTS):
        return
    pickled = [name for name in PICKLED_WEIGHTS if files.get(name)]
    if pickled:
        raise ExportFailed(
            f"{uri} has only pickled weights ({', '.join(pickled)}): refused, loading a pickle"
            " can run code; save the checkpoint with safetensors (safe_serialization=True)"
        )


def _listing(directory: Path) -> dict[str, bool]:
    """Each entry's name and whether it is a file (symlinks followed), in one directory read
    (not a stat per name looked for); empty when `directory` is not a directory."""
    try:
        with os.scandir(directory) as entries:
            return {entry.name: _is_file(entry) for entry in entries}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False
