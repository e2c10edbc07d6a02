"""After `receipts demo` on the embedded default: the command line answers every insight
question about the real (tiny) run it trained, from what the demo's process stored; the
trainer recorded a confusion matrix with every evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.cli import Result, no_traceback, run
from tests.e2e.conftest import Demo as DemoRun


def receipts(home: Path, *args: str) -> Result:
    done = run(home, *args)
    no_traceback(done)
    return done


@dataclass
class Demo:
    home: Path
    run: dict[str, Any]
    job: dict[str, Any]


@pytest.fixture(scope="module")
def demo(demo: DemoRun) -> Demo:
    [run] = json.loads(receipts(demo.home, "history", "--json").stdout)["runs"]
    job = json.loads(receipts(demo.home, "jobs", "show", run["job_name"], "--json").stdout)
    return Demo(demo.home, run, job)


def test_history_and_monitor_of_the_demo_run(demo: Demo) -> None:
    run = demo.run
    monitor = receipts(demo.home, "monitor")

    assert run["job_name"].startswith("demo-") and run["status"] == "succeeded"
    assert len(run["epochs"]) >= 1 and run["best_epoch"] is not None
    assert (
        monitor.returncode == 0 and run["job_name"] in monitor.said and "succeeded" in monitor.said
    )


def test_the_trainer_records_a_word_level_confusion_matrix(demo: Demo) -> None:
    shown = demo.job

    for metric in shown["metrics"]:
        confusion = metric["confusion"]
        assert "O" in confusion and "AMOUNT" in confusion  # the demo merges amounts
        assert not any(
            label.startswith(("B-", "I-")) for row in confusion.values() for label in row
        )
    validation_words = sum(sum(row.values()) for row in shown["metrics"][0]["confusion"].values())
    assert validation_words > 100


def test_report_and_dataset_stats_of_the_demo(demo: Demo, tmp_path: Path) -> None:
    name = demo.run["job_name"]

    report = receipts(demo.home, "report", name, "--output", str(tmp_path / "report"))
    stats = json.loads(receipts(demo.home, "dataset-stats", "--job", name, "--json").stdout)

    assert report.returncode == 0, report.said
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {
        "index.html",
        "training-curves.png",
        "confusion-matrix.png",
    }
    assert stats["total_receipts"] == 60 and stats["presets"] == ["amounts"]
    assert stats["content_hash"]  # the same policy and seed as the job: its lineage
    assert stats["content_hash"] == demo.job["results"]["dataset"]["content_hash"]
