"""What the eventsourcing library alone does for a lifecycle's events: the floor under
`receipts simulate`'s lifecycles/s.

The same shape as one simulated lifecycle, with the library's own aggregates (dataclass
events, its default mapper and JSON transcoder) on its POPO recorders and nothing of this
project: a job created, started and succeeded; a metric series with three evaluations; a
run_config and a run_summary log; a process application (the export policy) that requests an
export when a job succeeds, then the export started and succeeded; an OCR job submitted,
started and completed. 15 events in 12 saves (and the follower's tracking records), no
queue, no artifact, no file.

    .venv/bin/python bench/library_floor.py [--lifecycles 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import NewSingleThreadedRunner, ProcessApplication, System

ENV = {"AGGREGATE_CACHE_MAXSIZE": "10000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}
"""The repository settings the project's applications run with."""


class Job(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.status = "pending"

    @event("Started")
    def start(self) -> None:
        self.status = "running"

    @event("Succeeded")
    def succeed(self, checkpoint: str, f1: float) -> None:
        self.status = "succeeded"


class MetricSeries(Aggregate):
    @event("Created")
    def __init__(self, job_id: UUID) -> None:
        self.points: list[tuple[int, float]] = []

    @event("Recorded")
    def record(self, epoch: int, f1: float) -> None:
        self.points.append((epoch, f1))


class LogEntry(Aggregate):
    @event("Written")
    def __init__(self, job_id: UUID, kind: str, message: str) -> None:
        self.kind = kind


class Export(Aggregate):
    @event("Requested")
    def __init__(self, job_id: UUID) -> None:
        self.status = "queued"

    @event("Started")
    def start(self) -> None:
        self.status = "running"

    @event("Succeeded")
    def succeed(self, bundle: str) -> None:
        self.status = "succeeded"


class Jobs(Application[UUID]):
    pass


class Exports(ProcessApplication[UUID]):
    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: Any) -> None:
        """Nothing for other events."""

    @policy.register(Job.Succeeded)
    def _(self, domain_event: Any, processing_event: Any) -> None:
        processing_event.collect_events(Export(job_id=domain_event.originator_id))


def lifecycles_per_second(lifecycles: int) -> float:
    runner = NewSingleThreadedRunner(System(pipes=[[Jobs, Exports]]), env=ENV)
    runner.start()
    jobs, exports = runner.get(Jobs), runner.get(Exports)
    try:
        run(jobs, exports, lifecycles // 10)  # warm-up
        started = time.perf_counter()
        run(jobs, exports, lifecycles)
        return lifecycles / (time.perf_counter() - started)
    finally:
        runner.stop()


def run(jobs: Jobs, exports: Exports, lifecycles: int) -> None:
    for index in range(lifecycles):
        job = Job(name=f"floor-{index}")
        jobs.save(job)
        job.start()
        jobs.save(job)
        jobs.save(LogEntry(job_id=job.id, kind="run_config", message="{}"))
        series = MetricSeries(job_id=job.id)
        for epoch in range(3):
            series.record(epoch=epoch, f1=0.9)
            jobs.save(series)
        job.succeed(checkpoint="runs/best/", f1=0.9)
        jobs.save(LogEntry(job_id=job.id, kind="run_summary", message="{}"), job)
        # the export is the policy's: its id is in the follower's latest notification
        [notification] = exports.recorder.select_notifications(
            exports.recorder.max_notification_id() or 1, 1
        )
        export: Export = exports.repository.get(notification.originator_id)
        export.start()
        exports.save(export)
        export.succeed(bundle="bundles/x/")
        exports.save(export)
        ocr = Job(name=f"ocr-{index}")
        jobs.save(ocr)
        ocr.start()
        jobs.save(ocr)
        ocr.succeed(checkpoint="", f1=0.0)
        jobs.save(ocr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lifecycles", type=int, default=3000)
    args = parser.parse_args(argv)
    print(f"eventsourcing alone: {lifecycles_per_second(args.lifecycles):,.0f} lifecycles/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
