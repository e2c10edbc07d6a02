"""Runs recorded straight through the Jobs application, as a trainer records them: a job,
its evaluations (with per-label scores and a confusion matrix), its end, and the export
bundle the auto-export policy asks for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.application.export.export_worker import ExportWorker
from receipts.bootstrap import Runtime
from receipts.domain.job import DatasetLineage, JobDraft, JobResults
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation, LabelScore

LABELS = ("AMOUNT", "DATE", "MERCHANT_NAME")


def evaluation(epoch: int, f1: float, *, label_shift: float = 0.0) -> Evaluation:
    per_label = {
        label: LabelScore(
            precision=min(1.0, f1 + 0.02),
            recall=max(0.0, f1 - 0.02),
            f1=max(0.0, min(1.0, f1 - 0.1 * index + label_shift)),
            support=20 + 5 * index,
        )
        for index, label in enumerate(LABELS)
    }
    confusion = {
        "AMOUNT": {"AMOUNT": 18, "O": 2},
        "DATE": {"DATE": 9, "AMOUNT": 1},
        "MERCHANT_NAME": {"MERCHANT_NAME": 5, "O": 4},
        "O": {"O": 120, "AMOUNT": 3},
    }
    return Evaluation(
        epoch=epoch,
        global_step=epoch * 10,
        f1=f1,
        precision=min(1.0, f1 + 0.03),
        recall=max(0.0, f1 - 0.03),
        loss=1.2 / epoch,
        train_loss=1.4 / epoch,
        learning_rate=5e-5,
        per_label=per_label,
        elapsed_seconds=30.0 * epoch,
        confusion=confusion,
    )


def record_run(
    runtime: Runtime,
    name: str,
    f1s: Sequence[float],
    *,
    config: dict[str, Any] | None = None,
    end: str = "succeed",
    label_shift: float = 0.0,
    export: bool = True,
) -> UUID:
    """A job with one evaluation per F1; `end`: succeed, fail, or running (left running)."""
    jobs = runtime.jobs
    job_id = jobs.create_job(
        JobDraft(
            name=name,
            description=f"insight test run {name}",
            created_by="tests",
            config=config or {"hyperparameters": {"epochs": max(len(f1s), 1)}},
            tags={} if export else {"skip-coreml-export": "true"},
        )
    )
    jobs.start_job(job_id)
    jobs.append_log(job_id, LogEntry(kind="run_config", message="run config"))
    for epoch, f1 in enumerate(f1s, start=1):
        jobs.record_evaluation(job_id, evaluation(epoch, f1, label_shift=label_shift))
        jobs.append_log(job_id, LogEntry(message=f"epoch {epoch}: F1 {f1:.3f}"))
    if end == "running":
        return job_id
    if end == "fail":
        jobs.fail_job(job_id, "loss became NaN")
        return job_id
    best = max(range(len(f1s)), key=lambda i: f1s[i]) if f1s else 0
    checkpoint = runtime.runs_prefix() + f"{name}/best/"
    id2label = {"0": "O", "1": "B-AMOUNT"}
    runtime.artifacts.put_bytes(
        checkpoint + "config.json", json.dumps({"id2label": id2label}).encode()
    )
    jobs.succeed_job(
        job_id,
        JobResults(
            best_checkpoint_uri=checkpoint,
            best_f1=f1s[best] if f1s else 0.0,
            best_epoch=best + 1,
            epochs_run=len(f1s),
            dataset=DatasetLineage(
                source="tests/receipts.jsonl",
                content_hash="ab" * 32,
                receipts=100,
                words=4000,
                train_receipts=80,
                validation_receipts=20,
                label_counts={"AMOUNT": 400, "DATE": 100, "MERCHANT_NAME": 150},
            ),
            extra={"train_seconds": 30.0 * len(f1s)},
        ),
    )
    if export:
        ExportWorker(
            exports=runtime.exports,
            jobs_queue=runtime.queues.export_jobs,
            results_queue=runtime.queues.export_results,
            artifacts=runtime.artifacts,
            exporter=SimulatedExporter(),
        ).serve(continuous=True, until_empty=True)
    return job_id
