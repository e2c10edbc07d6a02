"""Every run with its config, best F1 and metrics per epoch, best first (seed 003's analyzer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from receipts.application.insight.runs import RunRecord, best_first, run_record
from receipts.application.training.job_views import JobCatalog
from receipts.domain.job import JobStatus


class RunHistory(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    status: JobStatus | None = None
    """Only runs with this status were asked for (None: every run)."""
    total_runs: int
    runs_with_metrics: int
    runs: list[RunRecord]


def run_history(catalog: JobCatalog, status: JobStatus | str | None = None) -> RunHistory:
    summaries = catalog.by_status(status) if status else catalog.all()
    runs = best_first([run_record(s, catalog.metrics(s.job_id)) for s in summaries])
    return RunHistory(
        status=JobStatus(status) if status else None,
        total_runs=len(runs),
        runs_with_metrics=sum(r.has_metrics for r in runs),
        runs=runs,
    )
