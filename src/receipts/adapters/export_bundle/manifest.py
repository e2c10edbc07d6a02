"""manifest.json: what a bundle holds (every file's size and sha256), where it came from,
how it was quantized and validated, and the library versions that made it."""

from __future__ import annotations

import hashlib
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
LIBRARIES = (
    "receipts",
    "torch",
    "transformers",
    "safetensors",
    "coremltools",
    "onnx",
    "onnxruntime",
    "numpy",
)


def file_inventory(root: Path) -> dict[str, dict[str, Any]]:
    """Every regular file under `root` (recursively, POSIX relative paths, sorted):
    its size in bytes and sha256."""
    return {
        path.relative_to(root).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(p for p in root.rglob("*") if p.is_file())
    }


def sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries that shape the bundle (absent ones left out)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def build_manifest(
    *,
    exporter: str,
    model_file: str,
    quantization: str,
    source: dict[str, Any],
    labels: list[str],
    files: dict[str, dict[str, Any]],
    validation: dict[str, Any],
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "exporter": exporter,
        "model_file": model_file,
        "quantization": quantization,
        "created_at": datetime.now(UTC).isoformat(),
        "source": source,
        "labels": labels,
        "model": model or {},
        "files": files,
        "total_bytes": sum(int(entry["bytes"]) for entry in files.values()),
        "validation": validation,
        "libraries": library_versions(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
