"""Choosing the exporter and the archive extractor of the export worker, and building it."""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import structlog

from receipts.application.export.export_worker import ExportWorker
from receipts.application.ports.exporter import Exporter, ExportFailed
from receipts.bootstrap import Runtime
from receipts.bootstrap.inference import archive_extractor

EXPORTERS: dict[str, tuple[str, str, str | None]] = {
    # name: (module, class, the library it needs)
    "coreml": ("receipts.adapters.coreml.exporter", "CoreMLExporter", "coremltools"),
    "onnx": ("receipts.adapters.onnx.exporter", "ONNXExporter", "onnx"),
    "simulated": ("receipts.adapters.simulated.exporter", "SimulatedExporter", None),
}


class ExporterUnavailable(ExportFailed):
    """The chosen exporter cannot run here; the message says why and what to do."""


def exporter_for(choice: str, **options: Any) -> Exporter:
    """`coreml`, `onnx`, `simulated`, or `package.module:Class`, built with `options`."""
    if ":" in choice:
        module_name, _, class_name = choice.partition(":")
        library = None
    elif choice in EXPORTERS:
        module_name, class_name, library = EXPORTERS[choice]
    else:
        raise ExporterUnavailable(
            f"unknown exporter {choice!r}: choose {', '.join(EXPORTERS)} or module:Class"
        )
    if library is not None and importlib.util.find_spec(library) is None:
        raise ExporterUnavailable(
            f"the {choice} exporter needs {library}, which is not installed here: install the"
            " export extra (pip install 'receipts[export]'; coremltools wants Python 3.11/3.12)"
            " or choose --exporter " + " | ".join(name for name in EXPORTERS if name != choice)
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ExporterUnavailable(
            f"the {choice} exporter ({module_name}) cannot be imported: {error}"
        ) from None
    try:
        exporter_class = getattr(module, class_name)
    except AttributeError:
        raise ExporterUnavailable(f"{module_name} has no {class_name}") from None
    exporter: Exporter = exporter_class(**options)
    return exporter


def build_export_worker(
    runtime: Runtime,
    exporter: Exporter,
    worker_name: str | None = None,
    *,
    visibility_timeout: float | None = None,
    heartbeat_every: float | None = None,
    grace_seconds: float = ExportWorker.grace_seconds,
) -> ExportWorker:
    """The export worker on the runtime's queues and store (named export-worker@host:pid)."""
    worker_name = worker_name or f"export-worker@{os.uname().nodename}:{os.getpid()}"
    return ExportWorker(
        exports=runtime.exports,
        jobs_queue=runtime.queues.export_jobs,
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        exporter=exporter,
        worker_name=worker_name,
        visibility_timeout=visibility_timeout or runtime.settings.visibility_timeout,
        heartbeat_every=heartbeat_every,
        grace_seconds=grace_seconds,
        extractor=archive_extractor(runtime.settings),
        log=structlog.get_logger("receipts.export_worker").bind(worker=worker_name),
    )
