"""`receipts simulate`: complete lifecycles driven through the real applications and workers.

A lifecycle: create a job, train it (simulated, metrics per epoch), succeed or fail; the
policy requests an export, the real `ExportWorker` exports it; an image is submitted and the
real `OCRWorker` reads it (simulated engine and model). With `faults`, the workers and the
trainer run as `SimulatedProcess`es that die at random points, stall past their visibility
(a rival worker takes their messages), get duplicate and re-ordered deliveries, and share
their queues with poison messages (`adapters/simulated/faults.py`). Lifecycles then run in
rounds; after each, the queues are drained to quiescence: a dead worker is replaced by a
new one and the messages it held become visible again, until every queue is empty (what
the redrive moves to a dead-letter queue stays there). At the end the invariants
(`application/invariants.py`) are checked.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from receipts.adapters.memory.label_store import InMemoryLabelStore
from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.adapters.simulated.faults import (
    NO_FAULTS,
    FaultKind,
    Faults,
    FaultyArtifacts,
    FaultyExporter,
    FaultyQueue,
    ProcessDied,
    SimulatedProcess,
)
from receipts.adapters.simulated.ocr import SimulatedOCREngine, SimulatedPredictor
from receipts.adapters.simulated.training_backend import SimulatedTrainingBackend
from receipts.application.export.dead_letters import fail_dead_letters
from receipts.application.export.export_worker import ExportWorker
from receipts.application.invariants import Violation, check_invariants
from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ocr.ocr_worker import OCRWorker
from receipts.application.ports.queue import MessageQueue
from receipts.application.queueing.queue_worker import QueueWorker
from receipts.application.training.leases import sweep
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime
from receipts.domain.aggregate import utc_now
from receipts.domain.job import JobDraft, JobStatus

DEFAULT_FAULT_RATES = {
    FaultKind.CRASH: 0.01,  # per point a worker or the trainer passes (about 25 a lifecycle)
    FaultKind.EXPIRY: 0.005,  # per point, while the worker holds a message
    FaultKind.DUPLICATE: 0.05,  # per delivery
    FaultKind.REORDER: 0.5,  # per batch of two or more
    FaultKind.POISON: 0.1,  # per round
}
ROUND = 8
"""Lifecycles per round when faults are injected (a batch for the workers to take)."""
POISON_BODIES = ("not json {", '{"job_id": "neither an id nor a request"}')


class SilentLog:
    """The workers' log when nothing should reach the console (faults make many errors)."""

    def info(self, event: str, **fields: Any) -> None: ...

    def warning(self, event: str, **fields: Any) -> None: ...

    def error(self, event: str, **fields: Any) -> None: ...


@dataclass
class SimulationReport:
    lifecycles: int
    seconds: float
    job_statuses: Counter[str] = field(default_factory=Counter)
    export_statuses: Counter[str] = field(default_factory=Counter)
    ocr_statuses: Counter[str] = field(default_factory=Counter)
    skipped_exports: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    crash_points: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    check_seconds: float = 0.0
    retried_exports: int = 0
    """Exports failed from the dead-letter queue (every delivery died) that the harness,
    as an operator would, queued again with `exports retry`."""

    @property
    def per_second(self) -> float:
        return self.lifecycles / self.seconds if self.seconds else float("inf")

    def violations_by_invariant(self) -> Counter[str]:
        return Counter(v.invariant.value for v in self.violations)


@dataclass
class Lane:
    """One job queue and its workers: a new worker (process) whenever one dies."""

    queue: MessageQueue
    build: Callable[[SimulatedProcess], QueueWorker[Any, Any]]
    faults: Faults
    batch: int
    outcomes: Counter[str]
    processes: list[SimulatedProcess] = field(default_factory=list)

    def drain(self) -> None:
        """Workers take messages until a receive finds none; each death spawns another."""
        while True:
            process, worker = self._spawn(self.faults)
            try:
                worker.serve(continuous=True, batch=self.batch, on_handled=self._count)
                return
            except ProcessDied:
                continue
            finally:
                process.bury()

    def expire(self) -> None:
        """The messages every past worker held become visible (their visibility ran out)."""
        for process in self.processes:
            for queue in process.queues:
                queue.expire()
        self.processes.clear()

    def _spawn(self, faults: Faults) -> tuple[SimulatedProcess, QueueWorker[Any, Any]]:
        rival = self._rival if faults is not NO_FAULTS else None
        process = SimulatedProcess(faults=faults, rival=rival)
        worker = self.build(process)
        self.processes.append(process)
        return process, worker

    def _rival(self, stalled: SimulatedProcess) -> None:
        process, worker = self._spawn(NO_FAULTS)
        try:
            worker.serve(continuous=True, batch=self.batch, on_handled=self._count)
        finally:
            process.bury()

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1


RETRY_ROUNDS = 5


def simulate_lifecycles(
    runtime: Runtime,
    jobs: int,
    *,
    epochs: int = 3,
    fail_rate: float = 0.1,
    skip_rate: float = 0.1,
    seed: int = 0,
    faults: Faults | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SimulationReport:
    """Runs `jobs` lifecycles (with `faults`, in rounds of ROUND), then checks the invariants."""
    faults = faults or NO_FAULTS
    rng = random.Random(seed)
    report = SimulationReport(lifecycles=jobs, seconds=0.0)
    with tempfile.TemporaryDirectory(prefix="receipts-simulate-") as scratch:
        lanes = _lanes(runtime, faults, report, Path(scratch))
        run_id = f"{time.time_ns():x}"
        started = time.perf_counter()
        size = 1 if faults is NO_FAULTS else ROUND
        for first in range(0, jobs, size):
            for index in range(first, min(jobs, first + size)):
                _train(
                    runtime,
                    report,
                    faults,
                    rng,
                    f"sim-{run_id}-{index}",
                    epochs,
                    fail_rate,
                    skip_rate,
                    seed + index,
                )
                image_uri = runtime.artifacts_uri(f"images/sim-{run_id}-{index}.png")
                runtime.artifacts.put_bytes(image_uri, b"simulated image")
                runtime.ocr_jobs.submit(image_uri, ocr_engine="stub", submitted_by="simulate")
            if faults.roll(FaultKind.POISON):
                faults.count(FaultKind.POISON)
                rng.choice(lanes).queue.send(rng.choice(POISON_BODIES))
            _settle(lanes, runtime.settings.max_receive_count)
            if on_progress:
                on_progress(min(jobs, first + size))
        report.seconds = time.perf_counter() - started
        report.retried_exports = recover(runtime, lanes)
    checked = time.perf_counter()
    report.violations = check_invariants(runtime.catalog(), runtime.artifacts)
    report.check_seconds = time.perf_counter() - checked
    report.faults, report.crash_points = faults.injected, faults.crash_points
    return report


def _train(
    runtime: Runtime,
    report: SimulationReport,
    faults: Faults,
    rng: random.Random,
    name: str,
    epochs: int,
    fail_rate: float,
    skip_rate: float,
    seed: int,
) -> None:
    skip = rng.random() < skip_rate
    job_id = runtime.jobs.create_job(
        JobDraft(
            name=name,
            created_by="simulate",
            config={"hyperparameters": {"epochs": epochs, "seed": seed}},
            tags={"skip-coreml-export": "true"} if skip else {},
        )
    )
    trainer = SimulatedProcess(faults=faults)
    artifacts = FaultyArtifacts(runtime.artifacts, trainer, "trainer")
    backend = SimulatedTrainingBackend(artifacts, runtime.runs_prefix(), fail_rate=fail_rate)
    try:
        status = run_training(runtime.jobs, job_id, backend).value
    except ProcessDied:
        status = "died"
    report.job_statuses[status] += 1
    if skip and status == "succeeded":
        report.skipped_exports += 1


def recover(runtime: Runtime, lanes: list[Lane], rounds: int = RETRY_ROUNDS) -> int:
    """What an operator does once the queues are quiet (the scheduled recover-jobs Lambda
    and the workers at start do the same sweeps): ends the jobs whose trainer died once
    their leases have run out (simulated time: the sweep looks one lease length ahead),
    fails the exports and OCR jobs whose messages reached a dead-letter queue, and retries
    those exports (`exports retry`; the simulated exporter only fails by dying), up to
    `rounds` times. Returns how many exports it retried."""
    running = runtime.catalog().by_status(JobStatus.RUNNING)
    later = utc_now() + timedelta(seconds=runtime.settings.job_lease_seconds + 1)
    sweep(runtime.jobs, [job.job_id for job in running], now=later)
    queues, deliveries = runtime.queues, runtime.settings.max_receive_count
    retried = 0
    for round_ in range(rounds + 1):
        dead = queues.dead_letters[queues.export_jobs.name]
        failed = fail_dead_letters(runtime.exports, runtime.artifacts, dead, deliveries).failed
        if not failed or round_ == rounds:
            break
        for export_id in failed:
            runtime.exports.retry_export(export_id, "retried by simulate after its worker died")
        retried += len(failed)
        _settle(lanes, deliveries)
    ocr = lanes[1].build(SimulatedProcess(faults=NO_FAULTS))
    assert isinstance(ocr, OCRWorker)
    ocr.fail_dead_letters(queues.dead_letters[queues.ocr_jobs.name])
    return retried


def _settle(lanes: list[Lane], max_receive_count: int) -> None:
    """Drains every lane; while messages remain (held by dead or stalled workers, or
    handled without being deleted), lets their visibility expire and drains again."""
    for _ in range(3 * max_receive_count + 3):
        for lane in lanes:
            lane.drain()
        for lane in lanes:
            lane.expire()
        if not any(lane.queue.approximate_count() for lane in lanes):
            return


def _lanes(runtime: Runtime, faults: Faults, report: SimulationReport, scratch: Path) -> list[Lane]:
    queues = runtime.queues
    visibility = runtime.settings.visibility_timeout

    def export_worker(process: SimulatedProcess) -> ExportWorker:
        worker = ExportWorker(
            exports=runtime.exports,
            jobs_queue=FaultyQueue(queues.export_jobs, process, "export"),
            results_queue=FaultyQueue(queues.export_results, process, "export-results"),
            artifacts=FaultyArtifacts(runtime.artifacts, process, "export"),
            exporter=FaultyExporter(SimulatedExporter(), process),
            worker_name="simulate-export",
            visibility_timeout=visibility,
            log=SilentLog(),
        )
        process.on_death = lambda: worker.request_stop(immediately=True)
        return worker

    # the simulated model, and the records in memory: never the home's real OCR labels
    models = ModelCache(runtime.artifacts, scratch, lambda *_, **__: SimulatedPredictor(), "sim")
    labels = InMemoryLabelStore(source="simulate")
    engine = SimulatedOCREngine()

    def ocr_worker(process: SimulatedProcess) -> OCRWorker:
        return OCRWorker(
            ocr_jobs=runtime.ocr_jobs,
            jobs_queue=FaultyQueue(queues.ocr_jobs, process, "ocr"),
            results_queue=FaultyQueue(queues.ocr_results, process, "ocr-results"),
            artifacts=FaultyArtifacts(runtime.artifacts, process, "ocr"),
            labels=labels,
            engines=lambda _: engine,
            models=models,
            results_prefix=runtime.artifacts_uri(""),
            worker_name="simulate-ocr",
            visibility_timeout=visibility,
            log=SilentLog(),
        )

    return [
        Lane(queues.export_jobs, export_worker, faults, 1, report.export_statuses),
        Lane(queues.ocr_jobs, ocr_worker, faults, 10, report.ocr_statuses),
    ]
