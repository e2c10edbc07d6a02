"""`receipts synthesize`, `train`, `evaluate` and `jobs` as a user runs them: fresh processes
on the embedded default (SQLite under RECEIPTS_HOME), a tiny LayoutLM on synthetic receipts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from tests.e2e.cli import BIN, Result, no_traceback
from tests.e2e.cli import run as run_cli

pytest.importorskip("torch")

# a tiny model trains fastest on one thread, and two test processes never oversubscribe
FAST = {"OMP_NUM_THREADS": "1"}
TINY = ["--model-size", "tiny", "--max-seq-length", "96", "--stride", "16", "--batch-size", "8"]
TINY += ["--lr", "1e-3"]


def run(home: Path, *args: str, script: str = "receipts") -> Result:
    return run_cli(home, *args, script=script, **FAST)


def show(home: Path, job: str) -> dict[str, Any]:
    result = run(home, "jobs", "show", job, "--json")
    assert result.returncode == 0, result.said
    shown: dict[str, Any] = result.json()
    return shown


def path_of(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


@dataclass
class Trained:
    home: Path
    dataset: Path
    result: Result
    shown: dict[str, Any]
    """`receipts jobs show t1 --json`."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """40 synthetic receipts and one two-epoch job `t1` trained on them."""
    home = tmp_path_factory.mktemp("home")
    dataset = home / "data" / "receipts.jsonl"
    synthesized = run(home, "synthesize", "--output", str(dataset), "--count", "40")
    assert synthesized.returncode == 0, synthesized.said
    result = run(
        home,
        "train",
        "--dataset",
        str(dataset),
        *TINY,
        "--epochs",
        "2",
        "--job-name",
        "t1",
        "--merge-amounts",
    )
    return Trained(home, dataset, result, show(home, "t1"))


def test_synthesize_writes_the_receipts_as_jsonl(trained: Trained) -> None:
    lines = trained.dataset.read_text().splitlines()

    assert len(lines) == 40
    first = json.loads(lines[0])
    assert first["receipt_id"] == "synthetic-0-00000"
    assert first["words"] and {"text", "box", "label"} <= set(first["words"][0])


def test_synthesize_is_deterministic(trained: Trained, tmp_path: Path) -> None:
    again = tmp_path / "again.jsonl"

    assert run(tmp_path, "synthesize", "--output", str(again), "--count", "40").returncode == 0
    assert again.read_bytes() == trained.dataset.read_bytes()


def test_train_exits_0_and_names_the_best_checkpoint(trained: Trained) -> None:
    result = trained.result

    assert result.returncode == 0, result.said
    no_traceback(result)
    assert "succeeded" in result.said
    assert "best checkpoint:" in result.said


def test_jobs_show_has_two_metrics_and_a_best_checkpoint(trained: Trained) -> None:
    shown = trained.shown

    assert shown["status"] == "succeeded"
    assert [m["epoch"] for m in shown["metrics"]] == [1, 2]
    results = shown["results"]
    assert results["epochs_run"] == 2
    best = path_of(results["best_checkpoint_uri"])
    assert (best / "model.safetensors").is_file()
    assert best.name == "best"


def test_evaluate_scores_the_best_checkpoint(trained: Trained) -> None:
    best = path_of(trained.shown["results"]["best_checkpoint_uri"])

    result = run(
        trained.home,
        "evaluate",
        "--checkpoint",
        str(best),
        "--dataset",
        str(trained.dataset),
        "--json",
    )

    assert result.returncode == 0, result.said
    report = result.json()
    assert report["receipts"] == 40
    assert 0 <= report["f1"] <= 1
    assert report["field_f1"] is not None and 0 <= report["field_f1"] <= 1
    assert "AMOUNT" in report["per_label"]


# -- the seeds' flags (layoutlm-cli) ---------------------------------------------------------

SEED_FLAGS = [
    "--allowed-label",
    "DATE",
    "--allowed-label",
    "AMOUNT",
    "--merge-amounts",
    "--o-entity-ratio",
    "2.0",
    "--label-smoothing",
    "0.1",
    "--gradient-accumulation-steps",
    "2",
    "--epochs",
    "1",
]


def test_layoutlm_cli_train_takes_the_seeds_flags_and_dataset_snapshots(trained: Trained) -> None:
    snapshot = trained.home / "snapshot.json"
    common = [*TINY, *SEED_FLAGS]

    saved = run(
        trained.home,
        "train",
        "--dataset",
        str(trained.dataset),
        "--dataset-snapshot-save",
        str(snapshot),
        "--job-name",
        "seeds-save",
        *common,
        script="layoutlm-cli",
    )
    loaded = run(
        trained.home,
        "train",
        "--dataset-snapshot-load",
        str(snapshot),
        "--job-name",
        "seeds-load",
        *common,
        script="layoutlm-cli",
    )

    assert saved.returncode == 0, saved.said
    assert loaded.returncode == 0, loaded.said
    assert snapshot.is_file()
    first, second = show(trained.home, "seeds-save"), show(trained.home, "seeds-load")
    hashes = [job["results"]["dataset"]["content_hash"] for job in (first, second)]
    assert hashes[0] == hashes[1]
    [run_config] = [e["data"] for e in first["logs"] if e["kind"] == "run_config"]
    assert run_config["tags"] == ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]
    hp = run_config["config"]["hyperparameters"]
    assert (hp["label_smoothing"], hp["gradient_accumulation_steps"], hp["o_entity_ratio"]) == (
        0.1,
        2,
        2.0,
    )
    assert run_config["train"]["dropped_lines"] > 0
    assert any(e["message"] == "dataset snapshot loaded" for e in second["logs"])


@pytest.fixture(scope="module")
def no_model(trained: Trained) -> Result:
    """A job whose warm-start model is missing: recorded (its data is good), then failed."""
    missing = str(trained.home / "no-such-model")
    args = ["train", "--dataset", str(trained.dataset), "--pretrained", missing, *TINY]
    return run(trained.home, *args, "--epochs", "1", "--job-name", "no-model")


def test_a_failed_training_exits_1_and_the_job_says_why(trained: Trained, no_model: Result) -> None:
    no_traceback(no_model)
    assert no_model.returncode == 1, no_model.said
    assert "no-such-model" in no_model.said
    job = show(trained.home, "no-model")
    assert job["status"] == "failed"
    assert "no-such-model" in job["status_reason"]


def test_dynamo_table_outside_aws_mode_is_refused_before_a_job_is_recorded(
    tmp_path: Path,
) -> None:
    args = ["train", "--dynamo-table", "ReceiptsTable", "--job-name", "dynamo", *TINY]

    result = run(tmp_path, *args, script="layoutlm-cli")

    no_traceback(result)
    assert result.returncode == 1, result.said
    assert "ReceiptsTable" in result.said and "aws mode" in result.said
    assert run(tmp_path, "jobs", "list", "--json").json() == []


# -- bad input: refused before any job is recorded -------------------------------------------


def test_a_mistyped_dataset_is_refused_before_a_job_is_recorded(tmp_path: Path) -> None:
    """It recorded a job and then failed it (issue 16)."""
    typo = tmp_path / "recipts.jsonl"

    result = run(tmp_path, "train", "--dataset", str(typo), "--job-name", "typo", *TINY)

    assert result.returncode == 1, result.said
    no_traceback(result)
    assert f"{typo}: no such file" in result.said
    assert run(tmp_path, "jobs", "list", "--json").json() == []


def test_empty_receipts_are_a_warning_before_training(trained: Trained, tmp_path: Path) -> None:
    dataset = tmp_path / "with-empty.jsonl"
    empty = json.dumps({"receipt_id": "empty", "width": 10, "height": 10, "words": []})
    dataset.write_text(trained.dataset.read_text() + empty + "\n")

    result = run(tmp_path, "train", "--dataset", str(dataset), *TINY, "--epochs", "1")

    assert result.returncode == 0, result.said
    assert "warning: skipped 1 receipt(s) with no words" in result.said


def test_bad_input_exits_1_naming_every_problem_and_records_no_job(tmp_path: Path) -> None:
    dataset = str(tmp_path / "r.jsonl")
    bad = ["--lr", "-1", "--allowed-label", "FOO", "--allowed-label", "DATE"]

    result = run(tmp_path, "train", "--dataset", dataset, "--model-size", "tiny", *bad)

    assert result.returncode == 1, result.said
    no_traceback(result)
    assert "learning_rate" in result.said
    assert "FOO" in result.said
    assert run(tmp_path, "jobs", "list", "--json").json() == []


# -- SIGINT and --resume ---------------------------------------------------------------------


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@dataclass
class Interrupted:
    home: Path
    result: Result
    status: str
    """The job's status right after the interruption."""


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Interrupted:
    """A train process on 300 receipts, six epochs, sent SIGINT once it trains."""
    home = tmp_path_factory.mktemp("sigint")
    dataset = home / "many.jsonl"
    assert run(home, "synthesize", "--output", str(dataset), "--count", "300").returncode == 0
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECEIPTS_")}
    environ.update(RECEIPTS_HOME=str(home), COLUMNS="200", NO_COLOR="1", **FAST)
    # six epochs is long; early stopping (no epoch gains 0.9 F1) keeps the resumed run at two
    command = [str(BIN / "receipts"), "train", "--dataset", str(dataset), *TINY, "--epochs", "6"]
    command += ["--early-stopping-patience", "1", "--early-stopping-threshold", "0.9"]
    command += ["--merge-amounts", "--job-name", "sig"]
    run_dir = home / "artifacts" / "runs" / "sig"
    process = subprocess.Popen(
        command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # the run directory appears once the trainer (and its signal handler) runs
        assert wait_for(run_dir.is_dir, timeout=60), process.poll()
        wait_for(lambda: any(run_dir.glob("checkpoint-*")), timeout=5)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return Interrupted(
        home, Result(process.returncode, stdout, stderr), show(home, "sig")["status"]
    )


def test_sigint_saves_a_checkpoint_and_exits_130(interrupted: Interrupted) -> None:
    result = interrupted.result

    no_traceback(result)
    assert "interrupted: checkpoint file://" in result.said
    assert "resume with: receipts train --resume sig" in result.said
    assert interrupted.status == "interrupted"
    assert result.returncode == 130, result.said


def test_an_interrupted_job_resumes_to_succeeded(interrupted: Interrupted) -> None:
    assert interrupted.status == "interrupted"

    resumed = run(interrupted.home, "train", "--resume", "sig")

    assert resumed.returncode == 0, resumed.said
    job = show(interrupted.home, "sig")
    assert job["status"] == "succeeded"
    epochs = [m["epoch"] for m in job["metrics"]]
    assert epochs == sorted(set(epochs)) and epochs[-1] == job["results"]["epochs_run"]
    assert any(e["message"].startswith("resumed at epoch") for e in job["logs"])
