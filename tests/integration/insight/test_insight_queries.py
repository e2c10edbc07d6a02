"""The application API: history, monitor, comparison and report data, on a memory runtime."""

from __future__ import annotations

import pytest
from tests.integration.insight.recorded import LABELS, record_run

from receipts.application.insight import Insight
from receipts.bootstrap import Runtime
from receipts.domain.errors import InvalidInput, JobNotFound
from receipts.domain.job import JobStatus
from receipts.domain.job_metric import Evaluation


def test_an_empty_store_has_an_empty_history_and_nothing_to_monitor(insight: Insight) -> None:
    history = insight.history()

    assert (history.total_runs, history.runs) == (0, [])
    assert insight.monitor() is None


def test_history_lists_every_run_best_first_with_its_epochs(
    runtime: Runtime, insight: Insight
) -> None:
    record_run(runtime, "weak", [0.30, 0.42])
    record_run(runtime, "strong", [0.60, 0.71, 0.69])
    record_run(runtime, "broken", [0.50], end="fail")
    record_run(runtime, "fresh", [], end="running")

    history = insight.history()

    assert [r.job_name for r in history.runs] == ["strong", "broken", "weak", "fresh"]
    strong = history.runs[0]
    assert (strong.best_f1, strong.best_epoch) == (0.71, 2)
    assert [e.f1 for e in strong.epochs] == [0.60, 0.71, 0.69]
    assert strong.config is not None and strong.config.hyperparameters.epochs == 3
    assert (history.total_runs, history.runs_with_metrics) == (4, 3)
    assert history.runs[-1].best_f1 is None and not history.runs[-1].has_metrics


def test_history_by_status(runtime: Runtime, insight: Insight) -> None:
    record_run(runtime, "ok", [0.5])
    record_run(runtime, "bad", [0.4], end="fail")

    failed = insight.history(JobStatus.FAILED)

    assert [r.job_name for r in failed.runs] == ["bad"]
    assert failed.status is JobStatus.FAILED
    assert insight.history("cancelled").runs == []


def test_the_best_epoch_is_the_checkpoint_the_job_kept(runtime: Runtime, insight: Insight) -> None:
    """With an early-stopping threshold a slightly higher later F1 does not replace the kept
    checkpoint: the job's results name epoch 1, and so does insight."""
    job_id = record_run(runtime, "threshold", [0.5], export=False)
    runtime.jobs.record_evaluation(
        job_id, Evaluation(epoch=2, global_step=20, f1=0.5004, precision=0.5, recall=0.5)
    )  # recorded late only for the test: the results already name epoch 1

    [run] = insight.history().runs

    assert (run.best_f1, run.best_epoch) == (0.5, 1)


def test_monitor_prefers_the_running_job_then_the_latest(
    runtime: Runtime, insight: Insight
) -> None:
    record_run(runtime, "done", [0.5, 0.6])
    record_run(runtime, "live", [0.3], end="running")

    snapshot = insight.monitor()

    assert snapshot is not None and snapshot.run.job_name == "live"
    assert snapshot.active and snapshot.latest is not None and snapshot.latest.epoch == 1
    assert snapshot.planned_epochs == 1
    assert [e.message for e in snapshot.recent_logs][-1] == "epoch 1: F1 0.300"
    runtime.jobs.cancel_job(snapshot.run.job_id)
    latest = insight.monitor()
    assert latest is not None and latest.run.job_name == "live" and not latest.active
    named = insight.monitor("done", log_limit=1)
    assert named is not None and len(named.recent_logs) == 1 and named.run.best_epoch == 2


def test_a_job_without_metrics_is_monitored_with_none(runtime: Runtime, insight: Insight) -> None:
    record_run(runtime, "waiting", [], end="running")

    snapshot = insight.monitor("waiting")

    assert snapshot is not None and snapshot.latest is None and snapshot.run.epochs == []


def test_unknown_jobs_are_named(runtime: Runtime, insight: Insight) -> None:
    record_run(runtime, "known", [0.5])

    for query in (
        lambda: insight.monitor("missing"),
        lambda: insight.report("missing"),
        lambda: insight.compare(["known", "missing"]),
        lambda: insight.report("00000000-0000-0000-0000-000000000000"),
    ):
        with pytest.raises(JobNotFound, match="job not found"):
            query()


def test_compare_shows_what_differs_epochs_and_label_deltas(
    runtime: Runtime, insight: Insight
) -> None:
    base = {"hyperparameters": {"epochs": 3, "batch_size": 64, "learning_rate": 6e-5}}
    other = {
        "hyperparameters": {"epochs": 3, "batch_size": 128, "learning_rate": 6e-5},
        "data": {"merge_amounts": True},
    }
    first = record_run(runtime, "b64", [0.6, 0.7, 0.68], config=base)
    record_run(runtime, "b128", [0.5, 0.55], config=other, label_shift=-0.1)

    comparison = insight.compare(["b64", str(first), "b128"])

    differences = {d.key: d.values for d in comparison.config_differences}
    assert differences == {
        "hyperparameters.batch_size": [64, 64, 128],
        "data.merge_amounts": [False, False, True],
    }
    assert comparison.epochs == [1, 2, 3]
    assert comparison.f1_at(2, 3) is None and comparison.f1_at(2, 2) == 0.55
    assert [r.best_epoch for r in comparison.runs] == [2, 2, 2]
    assert [row.label for row in comparison.label_f1] == sorted(LABELS)
    amount = comparison.label_f1[0]
    assert amount.f1[0] == pytest.approx(0.7)
    assert amount.delta == pytest.approx([0.0, 0.0, 0.55 - 0.1 - 0.7])


def test_compare_needs_two_jobs(runtime: Runtime, insight: Insight) -> None:
    record_run(runtime, "alone", [0.5])

    with pytest.raises(InvalidInput, match="at least two"):
        insight.compare(["alone"])


def test_report_data_of_a_finished_run(runtime: Runtime, insight: Insight) -> None:
    record_run(runtime, "full", [0.6, 0.72, 0.7])

    report = insight.report("full")

    assert report.notes == []
    assert report.run.best_epoch == 2
    assert set(report.best_epoch_per_label) == set(LABELS)
    assert report.confusion_labels == ["AMOUNT", "DATE", "MERCHANT_NAME", "O"]
    assert report.confusion[0] == [18, 0, 0, 2]
    assert report.confusion[3] == [3, 0, 0, 120]
    assert report.dataset is not None and report.dataset.label_counts["AMOUNT"] == 400
    assert report.timings.epoch_seconds == [30.0, 30.0, 30.0]
    assert report.timings.started_at is not None and report.timings.wall_seconds is not None
    [export] = report.exports
    assert export.status.value == "succeeded" and export.bundle_uri
    assert report.logs[0].kind == "run_config"


def test_report_data_of_a_run_with_nothing_yet_says_what_is_missing(
    runtime: Runtime, insight: Insight
) -> None:
    record_run(runtime, "empty", [], end="running")

    report = insight.report("empty")

    assert report.run.epochs == [] and report.confusion == [] and report.exports == []
    assert any("no metrics recorded yet" in note for note in report.notes)
    assert any("no export bundle" in note for note in report.notes)
