"""Everything a report of one run shows (seed 004): curves per epoch, per-label scores and
the confusion of labels at the best epoch, the data it trained on, its config, timings, the
export bundles made from it, and notes on what is missing."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from receipts.application.insight.runs import RunRecord, best_evaluation, find_run, run_record
from receipts.application.ports.read_model import ExportRecord
from receipts.application.training.job_views import JobCatalog
from receipts.domain.aggregate import Timestamp
from receipts.domain.job import DatasetLineage, JobResults
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import LabelScore
from receipts.domain.labels import OUTSIDE


class Timings(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    created_at: Timestamp
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    attempts: int = 0
    epoch_seconds: list[float | None]
    """Seconds each evaluated epoch took (from the trainer's elapsed time), in order."""

    @property
    def wall_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def queued_seconds(self) -> float | None:
        return (self.started_at - self.created_at).total_seconds() if self.started_at else None


class RunReport(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    run: RunRecord
    description: str = ""
    created_by: str = ""
    tags: dict[str, str]
    results: JobResults | None = None
    best_epoch_per_label: dict[str, LabelScore]
    """Per-label scores of the best evaluation."""
    confusion_labels: list[str]
    confusion: list[list[int]]
    """Rows: true label, columns: predicted label, both in `confusion_labels` order (words)."""
    dataset: DatasetLineage | None = None
    timings: Timings
    exports: list[ExportRecord]
    logs: list[LogEntry]
    notes: list[str]


def confusion_grid(confusion: dict[str, dict[str, int]]) -> tuple[list[str], list[list[int]]]:
    """Labels (entities sorted, O last) and the square matrix of word counts."""
    seen = set(confusion) | {p for row in confusion.values() for p in row}
    labels = sorted(seen - {OUTSIDE}) + ([OUTSIDE] if OUTSIDE in seen else [])
    grid = [[confusion.get(t, {}).get(p, 0) for p in labels] for t in labels]
    return labels, grid


def epoch_seconds(elapsed: list[float | None]) -> list[float | None]:
    """Per-epoch durations from the trainer's cumulative elapsed seconds."""
    seconds: list[float | None] = []
    previous: float | None = 0.0
    for value in elapsed:
        if value is None or previous is None or value < previous:
            seconds.append(None)
        else:
            seconds.append(value - previous)
        previous = value
    return seconds


def run_report(catalog: JobCatalog, key: str, *, log_limit: int = 30) -> RunReport:
    summary = find_run(catalog, key)
    job = catalog.jobs.get_job(summary.job_id)
    evaluations = catalog.metrics(summary.job_id)
    run = run_record(summary, evaluations)
    best = best_evaluation(evaluations, summary.best_f1)
    labels, grid = confusion_grid(best.confusion if best else {})
    exports = _exports_of(catalog, summary.job_id)
    notes = []
    if not evaluations:
        notes.append(f"no metrics recorded yet (the job is {summary.status.value})")
    elif not labels:
        notes.append("no confusion matrix: this run's evaluations were recorded without one")
    results = job.results
    if results is None:
        notes.append(f"no results: the job is {summary.status.value}")
    elif results.dataset is None:
        notes.append("no dataset lineage recorded")
    if not exports:
        notes.append("no export bundle made from this run")
    started: datetime | None = job.started_at
    ended: datetime | None = job.ended_at
    return RunReport(
        run=run,
        description=job.draft.description,
        created_by=job.draft.created_by,
        tags=job.tags,
        results=results,
        best_epoch_per_label=dict(sorted(best.per_label.items())) if best else {},
        confusion_labels=labels,
        confusion=grid,
        dataset=results.dataset if results else None,
        timings=Timings(
            created_at=summary.created_at,
            started_at=started,
            ended_at=ended,
            attempts=job.attempts,
            epoch_seconds=epoch_seconds([e.elapsed_seconds for e in evaluations]),
        ),
        exports=exports,
        logs=catalog.logs(summary.job_id)[-log_limit:],
        notes=notes,
    )


def _exports_of(catalog: JobCatalog, job_id: UUID) -> list[ExportRecord]:
    return catalog.exports_of(job_id) if catalog.exports is not None else []
