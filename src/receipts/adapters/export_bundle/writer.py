"""Writing a bundle: stage everything in a temporary sibling, then move it into place."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from receipts.adapters.export_bundle.checkpoint import ExportableCheckpoint
from receipts.adapters.export_bundle.manifest import MANIFEST, build_manifest, file_inventory
from receipts.application.ports.exporter import BundleReport, ExportFailed
from receipts.domain.quantization import Quantization


def known_quantization(value: object) -> Quantization:
    try:
        return Quantization(str(value))
    except ValueError:
        known = ", ".join(mode.value for mode in Quantization)
        raise ExportFailed(f"unknown quantization {value!r}; known: {known}") from None


@contextmanager
def staging_area(bundle_dir: Path) -> Iterator[Path]:
    """A temporary directory beside `bundle_dir` (same file system, so the final moves are
    renames), removed afterwards: whatever fails, `bundle_dir` never holds half a bundle."""
    if not bundle_dir.is_dir():
        raise ExportFailed(f"bundle directory {bundle_dir} does not exist")
    if any(bundle_dir.iterdir()):
        raise ExportFailed(f"bundle directory {bundle_dir} is not empty")
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle_dir.name}-", dir=bundle_dir.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_metadata_files(staging: Path, checkpoint: ExportableCheckpoint) -> None:
    """vocab.txt and config.json as the checkpoint has them; label_map.json as {"id": tag}."""
    shutil.copyfile(checkpoint.vocab, staging / "vocab.txt")
    shutil.copyfile(checkpoint.directory / "config.json", staging / "config.json")
    label_map = {str(i): tag for i, tag in enumerate(checkpoint.labels)}
    (staging / "label_map.json").write_text(json.dumps(label_map, indent=2) + "\n")


def finish_bundle(
    staging: Path,
    bundle_dir: Path,
    *,
    checkpoint: ExportableCheckpoint,
    exporter: str,
    model_file: str,
    quantization: str,
    validation: dict[str, Any],
    model: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> BundleReport:
    """Writes the metadata files and manifest.json over what `staging` holds, moves it all
    into `bundle_dir` and reports every file's size (manifest.json included)."""
    if not (staging / model_file).exists():
        raise ExportFailed(f"the exporter left no {model_file}")
    write_metadata_files(staging, checkpoint)
    files = file_inventory(staging)
    manifest = build_manifest(
        exporter=exporter,
        model_file=model_file,
        quantization=quantization,
        source={**checkpoint.source(), **(source or {})},
        labels=checkpoint.labels,
        files=files,
        validation=validation,
        model=model,
    )
    manifest_path = staging / MANIFEST
    manifest_path.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    sizes = {name: int(entry["bytes"]) for name, entry in files.items()}
    sizes[MANIFEST] = manifest_path.stat().st_size
    for entry in sorted(staging.iterdir()):
        entry.rename(bundle_dir / entry.name)
    return BundleReport(file_sizes=sizes, validation=validation)
