"""The seed documents' own command lines, payloads and queries, replayed in aws mode on the
moto server: what a user of the seed system types or reads still works, with the outcome
and the item shapes the seeds describe (seed 001: the single table's Job / JobMetric
items and its query; seed 003: the helper scripts' `TABLE [OUT]` and their JSON; seed 000:
the Mac worker's flags and the queue URLs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from tests.conftest import aws_mode_settings
from tests.e2e.cli import Result, run
from tests.integration.insight.recorded import evaluation

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.table import from_item
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.job import JobDraft, JobResults
from receipts.domain.job_log import LogEntry
from receipts.domain.labels import OUTSIDE, ValidationStatus

# the seeds' merged-amounts run of seed 001, as `receipts train` records it
CONFIG = {
    "hyperparameters": {
        "epochs": 3,
        "batch_size": 64,
        "learning_rate": 6e-5,
        "warmup_ratio": 0.2,
        "label_smoothing": 0.1,
        "o_entity_ratio": 2.0,
    },
    "data": {"merge_amounts": True, "allowed_labels": ["MERCHANT_NAME", "DATE", "AMOUNT"]},
}


@pytest.fixture
def runtime(aws_env: dict[str, str], unique_name: str) -> Iterator[Runtime]:
    runtime = bootstrap(aws_mode_settings(unique_name))
    yield runtime
    runtime.close()


def record(runtime: Runtime, name: str, f1s: list[float], *, end: str = "succeed") -> UUID:
    """A job as `receipts train` records it: its storage, one evaluation per F1, logs."""
    jobs = runtime.jobs
    job_id = jobs.create_job(
        JobDraft.parse(
            {
                "name": name,
                "description": "seed 001 phase 1: quick validation run",
                "priority": "high",
                "created_by": "tnorlund",
                "config": CONFIG,
                "tags": {"coreml-quantize": "int8"},
                "storage": runtime.run_storage(name),
            }
        )
    )
    jobs.start_job(job_id)
    for epoch, f1 in enumerate(f1s, start=1):
        jobs.record_evaluation(job_id, evaluation(epoch, f1))
        jobs.append_log(job_id, LogEntry(message=f"epoch {epoch}: F1 {f1:.3f}"))
    if end == "succeed":
        best = max(range(len(f1s)), key=lambda i: f1s[i])
        jobs.succeed_job(
            job_id,
            JobResults(
                best_checkpoint_uri=runtime.runs_prefix() + f"{name}/best/",
                best_f1=f1s[best],
                best_epoch=best + 1,
                epochs_run=len(f1s),
            ),
        )
    runtime.catalog().catch_up()
    return job_id


def query(runtime: Runtime, partition: str, *, index: str = "") -> list[dict[str, Any]]:
    """What the seeds' other consumers read: the table's items, straight from DynamoDB."""
    found = client("dynamodb").query(
        TableName=runtime.settings.table,
        **({"IndexName": index} if index else {}),
        KeyConditionExpression=f"{index}PK = :pk",
        ExpressionAttributeValues={":pk": {"S": partition}},
    )
    return [from_item(item) for item in found["Items"]]


def seed_cli(runtime: Runtime, home: Path, *args: str, table: str | None = None) -> Result:
    """`receipts *args` in aws mode on the runtime's resources; `table` as RECEIPTS_TABLE
    (the seeds' scripts name the table on the command line instead)."""
    s = runtime.settings
    return run(
        home,
        *args,
        RECEIPTS_MODE="aws",
        RECEIPTS_EVENTS_TABLE=s.events_table,
        RECEIPTS_TABLE=table or s.table,
        RECEIPTS_BUCKET=s.bucket,
        RECEIPTS_EXPORT_QUEUE=s.export_queue,
        RECEIPTS_EXPORT_RESULTS_QUEUE=s.export_results_queue,
        RECEIPTS_OCR_QUEUE=s.ocr_queue,
        RECEIPTS_OCR_RESULTS_QUEUE=s.ocr_results_queue,
    )


# -- seed 001: the single table's items ------------------------------------------------------


def test_a_job_item_has_the_seeds_attributes(runtime: Runtime) -> None:
    job_id = record(runtime, "receipts-2025-11-30-1405-validate", [0.52, 0.70, 0.66])

    [job] = [i for i in query(runtime, f"JOB#{job_id}") if i["SK"] == "JOB"]

    assert job["TYPE"] == "JOB"
    assert job["name"] == "receipts-2025-11-30-1405-validate"
    assert job["description"] == "seed 001 phase 1: quick validation run"
    assert (job["status"], job["priority"], job["created_by"]) == ("succeeded", "high", "tnorlund")
    assert job["created_at"].endswith("+00:00")
    assert job["tags"] == {"coreml-quantize": "int8"}
    config = job["job_config"]
    assert config["hyperparameters"]["batch_size"] == 64
    assert float(config["hyperparameters"]["learning_rate"]) == 6e-5
    assert config["data"]["merge_amounts"] is True
    prefix = "runs/receipts-2025-11-30-1405-validate/"
    assert job["storage"] == {
        "bucket": runtime.settings.bucket,
        "run_root_prefix": prefix,
        "best_prefix": prefix + "best/",
    }


def test_the_seeds_best_metric_query_finds_the_best_f1(runtime: Runtime) -> None:
    job_id = record(runtime, "receipts-full", [0.58, 0.70, 0.69])

    metrics = [i for i in query(runtime, f"JOB#{job_id}") if i["SK"].startswith("METRIC#")]
    # seed 001: best = max(metrics, key=lambda m: m.metric_value); print(best.metric_value)
    best = max(metrics, key=lambda m: m["metric_value"])

    assert len(metrics) == 3
    assert float(best["metric_value"]) == 0.70 and best["epoch"] == 2
    assert {m["metric_name"] for m in metrics} == {"f1"}
    assert all(m["value"] == m["metric_value"] == m["f1"] for m in metrics)  # seed 003: m.value
    assert all(m["job_id"] == str(job_id) and m["timestamp"].endswith("+00:00") for m in metrics)


def test_the_seeds_gsi1_status_query_lists_succeeded_jobs(runtime: Runtime) -> None:
    job_id = record(runtime, "receipts-done", [0.6])
    record(runtime, "receipts-live", [0.4], end="running")

    # aws dynamodb query --index-name GSI1 --key-condition-expression "GSI1PK = :status"
    found = query(runtime, "STATUS#succeeded", index="GSI1")

    assert [(i["PK"], i["name"]) for i in found] == [(f"JOB#{job_id}", "receipts-done")]


# -- seed 003: the helper scripts ------------------------------------------------------------


def test_history_table_out_writes_the_analyzer_json(runtime: Runtime, tmp_path: Path) -> None:
    record(runtime, "receipts-a", [0.3, 0.32])
    record(runtime, "receipts-b", [0.58, 0.70])
    out = tmp_path / "history.json"

    # python scripts/agent_analyze_training_history.py ReceiptsTable-dc5be22 history.json
    done = seed_cli(runtime, tmp_path, "history", runtime.settings.table, str(out), table="other")

    assert done.returncode == 0, done.said
    data = json.loads(out.read_text())
    assert data["total_runs"] == 2
    best = data["runs"][0]
    assert (best["job_name"], best["best_f1"], best["best_epoch"]) == ("receipts-b", 0.70, 2)
    assert {"job_id", "created_at", "config", "epochs"} <= best.keys()
    assert [(e["epoch"], e["f1"]) for e in best["epochs"]] == [(1, 0.58), (2, 0.70)]
    assert all(e["timestamp"].endswith("+00:00") for e in best["epochs"])


def test_dataset_stats_table_out_counts_valid_labels(runtime: Runtime, tmp_path: Path) -> None:
    receipts = generate_receipts(6, seed=3)
    runtime.labels.put(receipts)
    out = tmp_path / "stats.json"
    valid: dict[str, int] = {}
    for word in (w for r in receipts for w in r.words):
        if word.label != OUTSIDE and word.validation_status is ValidationStatus.VALID:
            valid[word.label] = valid.get(word.label, 0) + 1

    # python scripts/agent_dataset_stats.py ReceiptsTable-dc5be22 stats.json
    done = seed_cli(runtime, tmp_path, "dataset-stats", runtime.settings.table, str(out))

    assert done.returncode == 0, done.said
    stats = json.loads(out.read_text())
    assert stats["total_receipts"] == 6
    assert stats["label_counts"] == dict(sorted(valid.items()))
    assert stats["total_valid_labels"] == sum(valid.values())
    label = max(valid, key=lambda name: valid[name])
    assert stats["label_distribution"][label] == pytest.approx(valid[label] / sum(valid.values()))
    assert stats["label_counts_by_status"][label]["VALID"] == valid[label]


def test_monitor_table_says_no_active_jobs(runtime: Runtime, tmp_path: Path) -> None:
    record(runtime, "receipts-finished", [0.5])
    out = tmp_path / "monitor.json"

    # python scripts/agent_monitor_training.py ReceiptsTable-dc5be22 monitor.json
    done = seed_cli(runtime, tmp_path, "monitor", runtime.settings.table, str(out), table="other")

    assert done.returncode == 0, done.said
    status = json.loads(out.read_text())
    assert status["status"] == "no_active_jobs"
    assert status["last_job"]["job_name"] == "receipts-finished"


def test_monitor_table_shows_the_running_job_in_the_seeds_keys(
    runtime: Runtime, tmp_path: Path
) -> None:
    job_id = record(runtime, "receipts-running", [0.41, 0.56], end="running")

    done = seed_cli(runtime, tmp_path, "monitor", runtime.settings.table, "--json", table="other")

    assert done.returncode == 0, done.said
    status = done.json()
    assert (status["job_id"], status["job_name"], status["status"]) == (
        str(job_id),
        "receipts-running",
        "running",
    )
    assert (status["latest_epoch"], status["latest_f1"]) == (2, 0.56)
    assert status["started_at"].endswith("+00:00") and status["config"]["data"]["merge_amounts"]
    assert [(e["epoch"], e["f1"]) for e in status["all_epochs"]] == [(1, 0.41), (2, 0.56)]
    assert status["recent_logs"] == ["epoch 1: F1 0.410", "epoch 2: F1 0.560"]


def test_an_unwritable_out_is_named(runtime: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "missing-folder" / "history.json"
    runtime.catalog()  # creates the table

    done = seed_cli(runtime, tmp_path, "history", runtime.settings.table, str(out))

    assert done.returncode == 1
    assert f"cannot write {out}: No such file or directory" in done.said
    assert "Traceback" not in done.stderr


def test_an_unknown_monitor_argument_is_named(runtime: Runtime, tmp_path: Path) -> None:
    done = seed_cli(runtime, tmp_path, "monitor", "ReceiptsTable-dc5be22")

    assert done.returncode == 1
    assert "job not found: ReceiptsTable-dc5be22" in done.said
    assert "no table 'ReceiptsTable-dc5be22'" in done.said
    assert "Traceback" not in done.stderr


# -- seed 000: queue URLs, the Mac worker's flags ---------------------------------------------


def test_create_resources_creates_queues_given_as_the_seeds_urls(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    base = "https://sqs.us-east-1.amazonaws.com/123456789012"
    env = {
        "RECEIPTS_MODE": "aws",
        "RECEIPTS_CREATE_RESOURCES": "true",
        "RECEIPTS_EVENTS_TABLE": f"{unique_name}-events",
        "DYNAMO_TABLE_NAME": f"{unique_name}-table",
        "LAYOUTLM_TRAINING_BUCKET": f"{unique_name}-bucket",
        "COREML_EXPORT_JOB_QUEUE_URL": f"{base}/{unique_name}-coreml-export-job-queue",
        "COREML_EXPORT_RESULTS_QUEUE_URL": f"{base}/{unique_name}-coreml-export-results-queue",
        "OCR_JOB_QUEUE_URL": f"{base}/{unique_name}-ocr-job-queue",
        "OCR_RESULTS_QUEUE_URL": f"{base}/{unique_name}-ocr-results-queue",
    }

    done = run(tmp_path, "jobs", "list", "--json", **env)

    assert done.returncode == 0, done.said
    assert done.json() == []
    sqs = client("sqs")
    for role in ("coreml-export-job", "coreml-export-results", "ocr-job", "ocr-results"):
        name = f"{unique_name}-{role}-queue"
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{name}-dlq")


def test_the_local_image_command_line_takes_the_log_level(tmp_path: Path) -> None:
    image = tmp_path / "test-receipt.png"
    image.write_bytes(b"not a png")

    # receipt-ocr --process-local-image ~/test-receipt.png --output-dir ~/output \
    #   --layoutlm-model ~/.models/layoutlm --log-level debug
    done = run(
        tmp_path,
        "ocr",
        "--process-local-image",
        str(image),
        "--output-dir",
        str(tmp_path / "output"),
        "--layoutlm-model",
        str(tmp_path / ".models" / "layoutlm"),
        "--log-level",
        "debug",
    )

    # the flags are taken; what fails is the missing model, named
    assert done.returncode == 1
    assert f"model {tmp_path / '.models' / 'layoutlm'} is unusable" in done.said
