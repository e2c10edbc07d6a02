"""The insight commands on the embedded default (SQLite files under RECEIPTS_HOME), run
in-process: exit codes, messages, JSON, the live monitor and the report folder."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from tests.integration.insight.recorded import evaluation, record_run
from typer.testing import CliRunner

from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.bootstrap import Runtime, bootstrap
from receipts.entrypoints.cli import app
from receipts.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    for key in [k for k in os.environ if k.startswith("RECEIPTS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("RECEIPTS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path / "home"


@pytest.fixture
def local(home: Path) -> Iterator[Runtime]:
    """Another process's view of the same store: what a trainer records there."""
    runtime = bootstrap(Settings(mode="local", home=home))
    yield runtime
    runtime.close()


def receipts(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def said(result: Result) -> str:
    """stdout and stderr with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_an_empty_store_is_not_an_error(home: Path) -> None:
    for command in (["history"], ["monitor"], ["history", "--status", "running"]):
        result = receipts(*command)
        assert result.exit_code == 0, result.output
        assert "no jobs yet" in said(result) or "no running jobs" in said(result)
    listed = receipts("history", "--json")
    assert json.loads(listed.stdout)["runs"] == []


def test_history_table_and_json_best_first(local: Runtime) -> None:
    record_run(local, "run-a", [0.4, 0.5])
    record_run(local, "run-b", [0.6, 0.7])

    table = receipts("history")
    data = json.loads(receipts("history", "--json").stdout)

    assert table.exit_code == 0 and said(table).index("run-b") < said(table).index("run-a")
    assert "0.600 0.700" in said(table)
    assert [r["job_name"] for r in data["runs"]] == ["run-b", "run-a"]
    assert data["runs"][0]["best_epoch"] == 2
    assert data["runs"][0]["epochs"][1]["f1"] == 0.7
    assert data["runs"][0]["config"]["hyperparameters"]["epochs"] == 2


def test_jobs_without_metrics_are_listed_with_a_note(local: Runtime) -> None:
    record_run(local, "queued", [], end="running")

    history = receipts("history")
    monitor = receipts("monitor", "queued")

    assert history.exit_code == 0 and "no run has recorded metrics yet" in said(history)
    assert monitor.exit_code == 0 and "no metrics recorded yet" in said(monitor)


def test_unknown_jobs_exit_1_naming_them(local: Runtime) -> None:
    record_run(local, "known", [0.5])

    for command in (
        ["monitor", "nope"],
        ["compare", "known", "nope"],
        ["report", "nope"],
        ["dataset-stats", "--job", "nope"],
    ):
        result = receipts(*command)
        assert result.exit_code == 1, command
        assert "job not found: nope" in said(result)
    single = receipts("compare", "known")
    assert single.exit_code == 1 and "at least two jobs" in said(single)


def test_monitor_follows_a_running_job_until_it_ends(local: Runtime, home: Path) -> None:
    job_id = record_run(local, "live", [0.3], end="running")

    def trainer() -> None:
        time.sleep(0.4)
        local.jobs.record_evaluation(job_id, evaluation(2, 0.45))
        time.sleep(0.3)
        local.jobs.cancel_job(job_id, "enough")

    thread = threading.Thread(target=trainer)
    thread.start()
    result = receipts("monitor", "--follow", "--interval", "0.1")
    thread.join()

    assert result.exit_code == 0, result.output
    assert "job live is cancelled" in said(result)
    assert "0.4500" in said(result)  # the evaluation recorded while following


def test_monitor_json_is_one_snapshot(local: Runtime) -> None:
    record_run(local, "done", [0.5, 0.55])

    snapshot = json.loads(receipts("monitor", "done", "--json", "--follow").stdout)

    assert snapshot["job_name"] == "done" and snapshot["latest"]["epoch"] == 2
    assert snapshot["latest_epoch"] == 2 and snapshot["latest_f1"] == 0.55


def test_compare_prints_differences_epochs_and_label_deltas(local: Runtime) -> None:
    record_run(local, "lr-high", [0.5, 0.6], config={"hyperparameters": {"learning_rate": 1e-4}})
    record_run(local, "lr-low", [0.55, 0.65, 0.7], config={"hyperparameters": {"epochs": 3}})

    result = receipts("compare", "lr-high", "lr-low")
    data = json.loads(receipts("compare", "lr-high", "lr-low", "--json").stdout)

    assert result.exit_code == 0, result.output
    assert "hyperparameters.learning_rate" in said(result) and "0.0001" in said(result)
    assert "data.dataset" not in said(result)  # the same in both: not shown
    assert "per-label F1 at the best epoch" in said(result) and "+0.1000" in said(result)
    assert {d["key"] for d in data["config_differences"]} == {
        "hyperparameters.learning_rate",
        "hyperparameters.epochs",
    }


def test_report_writes_the_page_and_its_plots(local: Runtime, tmp_path: Path) -> None:
    record_run(local, "reported", [0.5, 0.62, 0.6])
    record_run(local, "bare", [], end="running")
    output = tmp_path / "out"

    result = receipts("report", "reported", "--output", str(output))
    bare = receipts("report", "bare", "--output", str(tmp_path / "bare"))

    assert result.exit_code == 0, result.output
    assert f"report: {output / 'index.html'}" in said(result)
    assert sorted(p.name for p in output.iterdir()) == [
        "confusion-matrix.png",
        "index.html",
        "label-distribution.png",
        "label-scores.png",
        "training-curves.png",
    ]
    assert bare.exit_code == 0 and "note: no metrics recorded yet" in said(bare)
    assert (tmp_path / "bare" / "index.html").is_file()


def test_dataset_stats_of_a_file_with_a_label_policy(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "receipts.jsonl"
    path.write_text("".join(json.dumps(to_record(r)) + "\n" for r in generate_receipts(30, seed=1)))

    table = receipts(
        "dataset-stats", "--dataset", str(path), "--merge-amounts", "--allowed-label", "AMOUNT"
    )
    data = json.loads(
        receipts("dataset-stats", "--dataset", str(path), "--o-entity-ratio", "1", "--json").stdout
    )

    assert table.exit_code == 0, table.output
    assert "trains on 1 label(s): AMOUNT" in said(table)
    assert "O (dropped)" in said(table)
    assert data["total_receipts"] == 30 and data["o_entity_target"] == 1.0
    assert data["train_balance"]["entity_words"] > 0


def test_dataset_stats_defaults_and_refusals(home: Path, tmp_path: Path) -> None:
    nothing = receipts("dataset-stats")
    missing = receipts("dataset-stats", "--dataset", str(tmp_path / "absent.jsonl"))
    bad_label = receipts("dataset-stats", "--allowed-label", "NOT_A_LABEL")

    assert nothing.exit_code == 0 and "no data set" in said(nothing)
    assert missing.exit_code == 1 and "no such file" in said(missing)
    assert bad_label.exit_code == 1 and "unknown label NOT_A_LABEL" in said(bad_label)
    datasets = home / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "synthetic-0-20.jsonl").write_text(
        "".join(json.dumps(to_record(r)) + "\n" for r in generate_receipts(20))
    )
    found = receipts("dataset-stats", "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["total_receipts"] == 20
