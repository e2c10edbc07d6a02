"""An exporter for the worker's signal tests (`--exporter tests.e2e.slow_exporter:SlowExporter`):
it writes SLOW_EXPORT_STARTED when it starts, then sleeps SLOW_EXPORT_SECONDS."""

from __future__ import annotations

import os
import time
from pathlib import Path

from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.application.ports.exporter import BundleReport
from receipts.domain.quantization import Quantization


class SlowExporter(SimulatedExporter):
    name = "slow"

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        Path(os.environ["SLOW_EXPORT_STARTED"]).write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("SLOW_EXPORT_SECONDS", "2")))
        return super().export(checkpoint_dir, bundle_dir, quantization)
