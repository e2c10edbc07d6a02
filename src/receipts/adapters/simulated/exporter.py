"""An exporter that writes a bundle's metadata files without converting a model."""

from __future__ import annotations

import json
from pathlib import Path

from receipts.application.ports.exporter import BundleReport, ExportFailed
from receipts.domain.quantization import Quantization


class SimulatedExporter:
    name = "simulated"

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        config_path = checkpoint_dir / "config.json"
        try:
            raw = config_path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ExportFailed(
                f"{checkpoint_dir} is not a checkpoint: config.json is missing"
            ) from None
        try:
            config = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ExportFailed(f"{config_path} is not valid JSON: {error}") from None
        if not isinstance(config, dict):
            raise ExportFailed(f"{config_path} is not a JSON object")
        files = {
            # the model's config travels unchanged, as a converter copies it
            "config.json": raw,
            "label_map.json": json.dumps(config.get("id2label", {})).encode(),
            "manifest.json": json.dumps(
                {"exporter": self.name, "quantization": quantization.value}
            ).encode(),
        }
        for name, data in files.items():
            (bundle_dir / name).write_bytes(data)
        return BundleReport(file_sizes={name: len(data) for name, data in files.items()})
