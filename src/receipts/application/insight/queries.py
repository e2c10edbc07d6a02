"""`Insight`: the questions that decide the next training run, answered as pydantic models,
for the CLI, a service embedding the library, or an assistant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from receipts.application.insight.comparison import RunComparison, compare_runs
from receipts.application.insight.dataset_stats import DatasetInsight, dataset_insight
from receipts.application.insight.history import RunHistory, run_history
from receipts.application.insight.monitor import MonitorSnapshot, monitor_snapshot
from receipts.application.insight.run_report import RunReport, run_report
from receipts.application.training.job_views import JobCatalog
from receipts.domain.config import DataConfig
from receipts.domain.job import JobStatus
from receipts.domain.receipt import Receipt


class Insight:
    """Read-only queries on a `JobCatalog` (any mode: memory, local, aws)."""

    def __init__(self, catalog: JobCatalog) -> None:
        self.catalog = catalog

    def history(self, status: JobStatus | str | None = None) -> RunHistory:
        return run_history(self.catalog, status)

    def monitor(self, job: str | None = None, *, log_limit: int = 10) -> MonitorSnapshot | None:
        """The job (id or name), else the running one, else the latest; None: no jobs."""
        return monitor_snapshot(self.catalog, job, log_limit=log_limit)

    def compare(self, jobs: Sequence[str]) -> RunComparison:
        return compare_runs(self.catalog, jobs)

    def report(self, job: str) -> RunReport:
        return run_report(self.catalog, job)

    @staticmethod
    def dataset_stats(
        receipts: Iterable[Receipt],
        config: DataConfig,
        *,
        source: str,
        seed: int = 42,
        o_entity_ratio: float | None = None,
    ) -> DatasetInsight:
        return dataset_insight(
            receipts, config, source=source, seed=seed, o_entity_ratio=o_entity_ratio
        )
