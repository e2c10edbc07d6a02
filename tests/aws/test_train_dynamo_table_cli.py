"""`receipts train --dynamo-table T` in aws mode, as a user runs it: a fresh process on the moto
server trains a tiny LayoutLM for one epoch on synthetic receipts put into T, and the job,
its metrics and logs land in the same table (the seeds' single table) for `jobs list`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.cli import Result, no_traceback
from tests.e2e.cli import run as run_cli

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore
from receipts.adapters.synthetic.generator import generate_receipts

pytest.importorskip("torch")

TINY = ["--model-size", "tiny", "--max-seq-length", "64", "--stride", "16", "--epochs", "1"]


def test_train_reads_its_receipts_from_the_dynamo_table(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    table = f"{unique_name}-single"
    store = DynamoDBLabelStore(table)
    store.create_table()
    store.put(generate_receipts(12, seed=3))
    env = {
        **aws_env,
        "OMP_NUM_THREADS": "1",
        "RECEIPTS_MODE": "aws",
        "RECEIPTS_CREATE_RESOURCES": "true",
        "RECEIPTS_TABLE": table,
        "RECEIPTS_EVENTS_TABLE": f"{unique_name}-events",
        "RECEIPTS_BUCKET": f"{unique_name}-bucket",
        "RECEIPTS_EXPORT_QUEUE": f"{unique_name}-export",
        "RECEIPTS_EXPORT_RESULTS_QUEUE": f"{unique_name}-export-results",
        "RECEIPTS_OCR_QUEUE": f"{unique_name}-ocr",
        "RECEIPTS_OCR_RESULTS_QUEUE": f"{unique_name}-ocr-results",
    }

    def run(*args: str) -> Result:
        return run_cli(tmp_path, *args, **env)

    trained = run("train", "--dynamo-table", table, "--job-name", "from-dynamo", *TINY)
    no_traceback(trained)
    assert trained.returncode == 0, trained.said
    assert "succeeded" in trained.said

    listed = run("jobs", "list", "--status", "succeeded", "--json")
    assert listed.returncode == 0, listed.said
    [job] = listed.json()
    assert job["name"] == "from-dynamo"
    assert job["config"]["data"]["dynamo_table"] == table
    db = client("dynamodb")
    items = db.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{job['job_id']}"}},
    )["Items"]
    kinds = [item["TYPE"]["S"] for item in items]
    assert kinds.count("JOB") == 1
    assert kinds.count("METRIC") == 1  # one epoch
    assert "LOG" in kinds
    run_config = next(i for i in items if i.get("kind", {}).get("S") == "run_config")
    assert f"dynamodb://{table}" in run_config["data"]["S"]
