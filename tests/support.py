"""Small builders shared by the integration tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.application.export.export_worker import ExportWorker
from receipts.bootstrap import Runtime
from receipts.domain.job import JobResults

Train = Callable[..., UUID]


def quick_config(epochs: int = 2) -> dict[str, Any]:
    return {"hyperparameters": {"epochs": epochs, "early_stopping_patience": 0}}


def results_for(runtime: Runtime, name: str) -> JobResults:
    return JobResults(
        best_checkpoint_uri=runtime.runs_prefix() + f"{name}/best/",
        best_f1=0.9,
        best_epoch=1,
        epochs_run=1,
    )


def export_worker(runtime: Runtime, **options: Any) -> ExportWorker:
    return ExportWorker(
        exports=runtime.exports,
        jobs_queue=runtime.queues.export_jobs,
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        exporter=SimulatedExporter(),
        **options,
    )
