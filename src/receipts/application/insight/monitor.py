"""The state of one run now: status, epoch, latest and best metrics, recent logs (seed 003's
monitor). Without a job: the running one, else the one changed most recently."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from receipts.application.insight.runs import ACTIVE, EpochMetrics, RunRecord, find_run, run_record
from receipts.application.ports.read_model import JobSummary
from receipts.application.training.job_views import JobCatalog
from receipts.domain.aggregate import Timestamp, utc_now
from receipts.domain.job import JobStatus
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

    def seed_json(self) -> dict[str, Any]:
        """Seed 003's monitor keys (`job_id`, `job_name`, `status`, `started_at`, `config`,
        `latest_epoch`, `latest_f1`, `all_epochs`, `recent_logs` as messages), then the
        richer ones (`planned_epochs`, `best_f1`, `best_epoch`, `latest` and `epochs` with
        every metric, `recent_log_entries`, ...)."""
        run = self.run.model_dump(mode="json")
        latest = run["epochs"][-1] if run["epochs"] else None
        return {
            "job_id": run["job_id"],
            "job_name": run["job_name"],
            "status": run["status"],
            "started_at": run["created_at"],
            "config": run["config"],
            "latest_epoch": latest["epoch"] if latest else None,
            "latest_f1": latest["f1"] if latest else None,
            "all_epochs": [
                {"epoch": e["epoch"], "f1": e["f1"], "timestamp": e["timestamp"]}
                for e in run["epochs"]
            ],
            "recent_logs": [entry.message for entry in self.recent_logs],
            "status_reason": run["status_reason"],
            "updated_at": run["updated_at"],
            "planned_epochs": self.planned_epochs,
            "best_f1": run["best_f1"],
            "best_epoch": run["best_epoch"],
            "latest": latest,
            "epochs": run["epochs"],
            "recent_log_entries": [entry.model_dump(mode="json") for entry in self.recent_logs],
            "taken_at": self.model_dump(mode="json", include={"taken_at"})["taken_at"],
        }


NO_ACTIVE_JOBS = "no_active_jobs"
"""Seed 003's monitor answer when no job is running: `{"status": "no_active_jobs"}`."""


def monitor_json(snapshot: MonitorSnapshot | None, *, asked: bool) -> dict[str, Any]:
    """The monitor's JSON: a named job's snapshot; else the running job's; else (as seed
    003's monitor) `{"status": "no_active_jobs"}`, with the job changed last, if any, under
    `last_job`."""
    if snapshot is not None and (asked or snapshot.run.status is JobStatus.RUNNING):
        return snapshot.seed_json()
    answer: dict[str, Any] = {"status": NO_ACTIVE_JOBS}
    if snapshot is not None:
        answer["last_job"] = snapshot.seed_json()
    return answer


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
