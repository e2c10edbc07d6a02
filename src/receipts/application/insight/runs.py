"""A run as insight sees it: a job, its config and its metrics per epoch, best first."""

from __future__ import annotations

import math
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from receipts.application.ports.read_model import JobSummary
from receipts.application.training.job_views import JobCatalog
from receipts.domain.aggregate import Timestamp
from receipts.domain.config import JobConfig
from receipts.domain.errors import JobNotFound
from receipts.domain.job import JobStatus
from receipts.domain.job_metric import Evaluation

ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})


class EpochMetrics(BaseModel):
    """One evaluation: validation F1, precision, recall and loss after an epoch."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    epoch: int
    global_step: int
    f1: float
    precision: float
    recall: float
    loss: float | None = None
    train_loss: float | None = None
    learning_rate: float | None = None
    elapsed_seconds: float | None = None
    timestamp: Timestamp

    @classmethod
    def of(cls, evaluation: Evaluation) -> EpochMetrics:
        return cls.model_validate(evaluation.model_dump(exclude={"per_label", "confusion"}))


class RunRecord(BaseModel):
    """A job with its config, best F1 (and the epoch it came from) and every epoch's metrics."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: UUID
    job_name: str
    status: JobStatus
    status_reason: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    config: JobConfig | None = None
    best_f1: float | None = None
    best_epoch: int | None = None
    epochs: list[EpochMetrics]

    @property
    def has_metrics(self) -> bool:
        return bool(self.epochs)


def best_evaluation(
    evaluations: list[Evaluation], kept_f1: float | None = None
) -> Evaluation | None:
    """The evaluation of the checkpoint the job kept (`kept_f1`, its results' best F1: with an
    early-stopping threshold a slightly higher later F1 may not have replaced it), else the
    highest F1, the earliest among ties."""
    if kept_f1 is not None:
        for evaluation in evaluations:
            if math.isclose(evaluation.f1, kept_f1, rel_tol=1e-9, abs_tol=1e-12):
                return evaluation
    return max(evaluations, key=lambda e: e.f1, default=None)


def run_record(summary: JobSummary, evaluations: list[Evaluation]) -> RunRecord:
    best = best_evaluation(evaluations, summary.best_f1)
    return RunRecord(
        job_id=summary.job_id,
        job_name=summary.name,
        status=summary.status,
        status_reason=summary.status_reason,
        created_at=summary.created_at,
        updated_at=summary.updated_at,
        config=summary.config,
        best_f1=best.f1 if best else summary.best_f1,
        best_epoch=best.epoch if best else None,
        epochs=[EpochMetrics.of(e) for e in evaluations],
    )


def find_run(catalog: JobCatalog, key: str) -> JobSummary:
    """A job by id or name; `JobNotFound` names the key when there is none."""
    catalog.catch_up()
    try:
        summary = catalog.read_model.get(UUID(key))
    except ValueError:
        summary = None
    if summary is not None:
        return summary
    try:
        return catalog.by_name(key)
    except JobNotFound:
        raise JobNotFound(key) from None


def best_first(runs: list[RunRecord]) -> list[RunRecord]:
    """Highest best F1 first; runs without one last, newest first among them."""
    scored = sorted(
        (r for r in runs if r.best_f1 is not None),
        key=lambda r: (-(r.best_f1 or 0.0), r.created_at, r.job_name),
    )
    unscored = sorted(
        (r for r in runs if r.best_f1 is None), key=lambda r: r.created_at, reverse=True
    )
    return [*scored, *unscored]
