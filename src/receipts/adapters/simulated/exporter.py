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
        if not config_path.is_file():
            raise ExportFailed(f"{checkpoint_dir} is not a checkpoint: config.json is missing")
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as error:
            raise ExportFailed(f"{config_path} is not valid JSON: {error}") from None
        files = {
            "config.json": json.dumps(config, indent=2),
            "label_map.json": json.dumps(config.get("id2label", {}), indent=2),
            "manifest.json": json.dumps(
                {"exporter": self.name, "quantization": quantization.value}, indent=2
            ),
        }
        for name, text in files.items():
            (bundle_dir / name).write_text(text)
        return BundleReport(file_sizes={name: len(text.encode()) for name, text in files.items()})
