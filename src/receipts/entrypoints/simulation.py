"""`receipts simulate`: complete lifecycles driven through the real applications."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from receipts.application.export.export_worker import ExportWorker
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime
from receipts.bootstrap.export import exporter_for
from receipts.bootstrap.training import simulated_backend
from receipts.domain.job import JobDraft
from receipts.domain.ocr_job import OCROutcome, RoutingDecision


@dataclass
class SimulationReport:
    lifecycles: int
    seconds: float
    job_statuses: Counter[str] = field(default_factory=Counter)
    export_statuses: Counter[str] = field(default_factory=Counter)
    ocr_statuses: Counter[str] = field(default_factory=Counter)
    skipped_exports: int = 0

    @property
    def per_second(self) -> float:
        return self.lifecycles / self.seconds if self.seconds else float("inf")


def simulate_lifecycles(
    runtime: Runtime,
    jobs: int,
    *,
    epochs: int = 3,
    fail_rate: float = 0.1,
    skip_rate: float = 0.1,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> SimulationReport:
    """Each lifecycle: create a job, train (metrics per epoch), succeed or fail, the policy
    requests an export, the worker exports it, and one OCR job is submitted and completed."""
    rng = random.Random(seed)
    backend = simulated_backend(runtime, fail_rate=fail_rate)
    worker = ExportWorker(
        exports=runtime.exports,
        jobs_queue=runtime.queues.export_jobs,
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        exporter=exporter_for("simulated"),
        worker_name="simulate",
    )
    report = SimulationReport(lifecycles=jobs, seconds=0.0)
    run_id = f"{time.time_ns():x}"
    started = time.perf_counter()
    for index in range(jobs):
        skip = rng.random() < skip_rate
        job_id = runtime.jobs.create_job(
            JobDraft(
                name=f"sim-{run_id}-{index}",
                created_by="simulate",
                config={"hyperparameters": {"epochs": epochs, "seed": seed + index}},
                tags={"skip-coreml-export": "true"} if skip else {},
            )
        )
        status = run_training(runtime.jobs, job_id, backend)
        report.job_statuses[status.value] += 1
        for outcome in worker.drain():
            report.export_statuses[outcome] += 1
        if skip and status.value == "succeeded":
            report.skipped_exports += 1
        _simulate_ocr(runtime, index, rng)
        report.ocr_statuses["completed"] += 1
        if on_progress:
            on_progress(index + 1)
    runtime.queues.export_results.receive(max_messages=10)
    report.seconds = time.perf_counter() - started
    return report


def _simulate_ocr(runtime: Runtime, index: int, rng: random.Random) -> None:
    image_uri = runtime.artifacts_uri(f"images/sim-{index}.png")
    ocr_id = runtime.ocr_jobs.submit(image_uri, ocr_engine="stub", submitted_by="simulate")
    for message in runtime.queues.ocr_jobs.receive(max_messages=1):
        runtime.ocr_jobs.start(ocr_id, "simulate")
        confident = rng.random() < 0.7
        runtime.ocr_jobs.complete(
            ocr_id,
            OCROutcome(
                word_count=rng.randint(20, 120),
                routing=RoutingDecision.AUTO_ACCEPT if confident else RoutingDecision.NEEDS_REVIEW,
                routing_reason="simulated",
            ),
        )
        runtime.queues.ocr_jobs.delete(message.receipt_handle)
