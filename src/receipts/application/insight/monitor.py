"""The state of one run now: status, epoch, latest and best metrics, recent logs (seed 003's
monitor). Without a job: the running one, else the one changed most recently."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from receipts.application.insight.runs import ACTIVE, EpochMetrics, RunRecord, find_run, run_record
from receipts.application.ports.read_model import JobSummary
from receipts.application.training.job_views import JobCatalog
from receipts.domain.aggregate import Timestamp, utc_now
from receipts.domain.job_log import LogEntry


class MonitorSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    run: RunRecord
    planned_epochs: int | None = None
    latest: EpochMetrics | None = None
    recent_logs: list[LogEntry]
    taken_at: Timestamp

    @property
    def active(self) -> bool:
        """Still pending or running: a live view should keep refreshing."""
        return self.run.status in ACTIVE


def monitored_job(catalog: JobCatalog, key: str | None) -> JobSummary | None:
    """The job asked for, else the running job changed last, else the job changed last."""
    if key:
        return find_run(catalog, key)
    running = catalog.latest_by_status("running")
    if running is not None:
        return running
    jobs = catalog.all()
    return max(jobs, key=lambda s: (s.updated_at, s.created_at)) if jobs else None


def monitor_snapshot(
    catalog: JobCatalog, key: str | None = None, *, log_limit: int = 10
) -> MonitorSnapshot | None:
    """None when there is no job at all."""
    summary = monitored_job(catalog, key)
    if summary is None:
        return None
    return snapshot_of(catalog, summary, log_limit=log_limit)


def snapshot_of(
    catalog: JobCatalog, summary: JobSummary, *, log_limit: int = 10, at: datetime | None = None
) -> MonitorSnapshot:
    run = run_record(summary, catalog.metrics(summary.job_id))
    logs = catalog.logs(summary.job_id)
    return MonitorSnapshot(
        run=run,
        planned_epochs=summary.config.hyperparameters.epochs if summary.config else None,
        latest=run.epochs[-1] if run.epochs else None,
        recent_logs=logs[-log_limit:] if log_limit > 0 else [],
        taken_at=at or utc_now(),
    )
