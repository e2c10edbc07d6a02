"""The exporter port: turns a checkpoint directory into an on-device model bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from receipts.domain.quantization import Quantization


class ExportFailed(Exception):
    """The checkpoint could not be exported; the message names why."""


class BundleReport(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    file_sizes: dict[str, int]
    validation: dict[str, Any] = Field(default_factory=dict)


class Exporter(Protocol):
    name: str

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        """Writes the bundle into `bundle_dir` (empty, existing), `manifest.json` among its
        files (the artifact store publishes a bundle by it); raises ExportFailed."""
        ...
