"""Insight in aws mode on the moto server: runs recorded by one Runtime (the trainer's) are
read by another (a person's, or an assistant's) from DynamoDB (events and the single table's
read model), with export bundles in S3 and labels in the single table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import aws_mode_settings
from tests.integration.insight.recorded import record_run
from typer.testing import CliRunner

from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore
from receipts.adapters.html.run_report import write_run_report
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.insight import Insight
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.config import DataConfig
from receipts.entrypoints.cli import app
from receipts.settings import Settings


@pytest.fixture
def settings(aws_env: dict[str, str], unique_name: str) -> Settings:
    return aws_mode_settings(unique_name)


@pytest.fixture
def trainer(settings: Settings) -> Iterator[Runtime]:
    runtime = bootstrap(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def reader(settings: Settings, trainer: Runtime) -> Iterator[Insight]:
    runtime = bootstrap(settings)
    yield Insight(runtime.catalog())
    runtime.close()


def test_history_compare_and_report_on_dynamodb_and_s3(
    trainer: Runtime, reader: Insight, tmp_path: Path
) -> None:
    record_run(trainer, "aws-base", [0.61, 0.68, 0.70])
    record_run(
        trainer,
        "aws-merged",
        [0.64, 0.73],
        config={"hyperparameters": {"epochs": 2}, "data": {"merge_amounts": True}},
    )

    history = reader.history()
    comparison = reader.compare(["aws-base", "aws-merged"])
    report = reader.report("aws-merged")
    page = write_run_report(report, tmp_path / "report")

    assert [r.job_name for r in history.runs] == ["aws-merged", "aws-base"]
    assert [e.f1 for e in history.runs[1].epochs] == [0.61, 0.68, 0.70]
    assert {d.key for d in comparison.config_differences} == {
        "hyperparameters.epochs",
        "data.merge_amounts",
    }
    assert comparison.label_f1[0].delta[1] == pytest.approx(0.73 - 0.70)
    assert report.confusion_labels[-1] == "O" and report.confusion[0][0] == 18
    [export] = report.exports
    assert export.status.value == "succeeded"
    assert export.bundle_uri and export.bundle_uri.startswith(f"s3://{trainer.settings.bucket}/")
    assert report.notes == []
    assert (tmp_path / "report" / "confusion-matrix.png").stat().st_size > 10_000
    assert "aws-merged" in page.read_text()


def test_the_monitor_sees_a_running_job_and_the_cli_reads_aws_by_environment(
    trainer: Runtime,
    reader: Insight,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    record_run(trainer, "aws-live", [0.4], end="running")
    snapshot = reader.monitor()
    assert snapshot is not None and snapshot.run.job_name == "aws-live" and snapshot.active

    monkeypatch.setenv("RECEIPTS_MODE", "aws")
    monkeypatch.setenv("RECEIPTS_HOME", str(tmp_path))
    for name in ("events_table", "table", "bucket", "export_queue", "export_results_queue"):
        monkeypatch.setenv(f"RECEIPTS_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("RECEIPTS_OCR_QUEUE", settings.ocr_queue)
    monkeypatch.setenv("RECEIPTS_OCR_RESULTS_QUEUE", settings.ocr_results_queue)
    monkeypatch.setenv("RECEIPTS_CREATE_RESOURCES", "true")

    listed = CliRunner().invoke(app, ["history", "--json"])
    unknown = CliRunner().invoke(app, ["report", "missing"])

    assert listed.exit_code == 0, listed.output
    assert [r["job_name"] for r in json.loads(listed.stdout)["runs"]] == ["aws-live"]
    assert unknown.exit_code == 1 and "job not found: missing" in unknown.output


def test_dataset_stats_of_the_labels_in_the_single_table(
    trainer: Runtime, settings: Settings
) -> None:
    store = DynamoDBLabelStore(settings.table)
    store.create_table()
    store.put(generate_receipts(12, seed=5))

    stats = Insight.dataset_stats(
        store.receipts(), DataConfig(merge_amounts=True), source=store.source
    )

    assert stats.total_receipts == 12 and stats.source == f"dynamodb://{settings.table}"
    assert "AMOUNT" in stats.training_label_counts and stats.problem is None
