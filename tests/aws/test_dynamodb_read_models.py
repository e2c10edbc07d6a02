"""The DynamoDB read models on moto: the seeds' item layout, the writes a job lifecycle costs,
a second projector reusing the stored position, and a missing table named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.job_read_model import DynamoDBJobReadModel
from receipts.adapters.dynamodb.keys import sortable
from receipts.adapters.dynamodb.table import ItemTooLarge, TableMissing
from receipts.application.training.job_views import JobCatalog
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.job import JobDraft, JobResults
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation
from receipts.settings import Settings

T0 = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def read_model(aws_env: dict[str, str], unique_name: str) -> DynamoDBJobReadModel:
    model = DynamoDBJobReadModel(unique_name)
    model.create_table()
    return model


def catalog_on(runtime: Runtime, read_model: DynamoDBJobReadModel) -> JobCatalog:
    return JobCatalog(runtime.jobs, read_model, exports=runtime.exports, ocr_jobs=runtime.ocr_jobs)


def lifecycle(runtime: Runtime, catalog: JobCatalog | None = None) -> Any:
    """Create, start, 3 metrics, 2 logs, succeed (which requests the export); with a catalog,
    a query after every step (the worst case: the projection writes after each event)."""
    jobs = runtime.jobs

    def step() -> None:
        if catalog is not None:
            catalog.catch_up()

    job_id = jobs.create_job(JobDraft(name="receipts-2026-11-22-0930"))
    step()
    jobs.start_job(job_id)
    step()
    for epoch in (1, 2, 3):
        at = T0 + timedelta(minutes=epoch)
        jobs.record_evaluation(
            job_id,
            Evaluation(
                epoch=epoch,
                global_step=100 * epoch,
                f1=0.5,
                precision=0.5,
                recall=0.5,
                timestamp=at,
            ),
        )
        step()
    jobs.append_log(job_id, LogEntry(kind="run_config", message="config", timestamp=T0))
    step()
    jobs.append_log(job_id, LogEntry(kind="run_summary", message="done", timestamp=T0))
    step()
    jobs.succeed_job(
        job_id,
        JobResults(
            best_checkpoint_uri="s3://models/runs/r/best/", best_f1=0.7, best_epoch=2, epochs_run=3
        ),
    )
    step()
    return job_id


def test_items_follow_the_seeds_layout(runtime: Runtime, read_model: DynamoDBJobReadModel) -> None:
    job_id = lifecycle(runtime)
    catalog_on(runtime, read_model).catch_up()
    db = client("dynamodb")
    table = read_model.table.name

    # the seeds' own query: aws dynamodb query --index-name GSI1 --key-condition-expression
    # "GSI1PK = :status" with :status = STATUS#succeeded
    [job] = db.query(
        TableName=table,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :status",
        ExpressionAttributeValues={":status": {"S": "STATUS#succeeded"}},
    )["Items"]
    assert (job["PK"]["S"], job["SK"]["S"], job["name"]["S"]) == (
        f"JOB#{job_id}",
        "JOB",
        "receipts-2026-11-22-0930",
    )
    assert job["best_f1"]["N"] == "0.7"
    assert job["created_at"]["S"].endswith("+00:00")
    partition = db.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{job_id}"}},
    )["Items"]
    keys = [item["SK"]["S"] for item in partition]
    assert keys == [
        "JOB",
        f"LOG#{sortable(T0)}#00000002",
        f"LOG#{sortable(T0)}#00000003",
        *(f"METRIC#{sortable(T0 + timedelta(minutes=e))}#{e + 1:08d}" for e in (1, 2, 3)),
    ]
    assert keys[1] == "LOG#2026-11-22T09:30:00.000000+00:00#00000002"
    metric = partition[-1]
    assert (metric["TYPE"]["S"], metric["epoch"]["N"], metric["global_step"]["N"]) == (
        "METRIC",
        "3",
        "300",
    )
    assert metric["timestamp"]["S"] == "2026-11-22T09:33:00+00:00"
    [export] = db.query(
        TableName=table,
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :job",
        ExpressionAttributeValues={":job": {"S": f"JOB#{job_id}"}},
    )["Items"]
    assert (export["SK"]["S"], export["GSI1PK"]["S"]) == ("EXPORT", "EXPORT_STATUS#queued")
    positions = db.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "PROJECTION#Jobs"}},
    )["Items"]
    assert int(positions[0]["position"]["N"]) == runtime.jobs.recorder.max_notification_id()


def test_writes_per_job_lifecycle(runtime: Runtime, read_model: DynamoDBJobReadModel) -> None:
    """One catch-up at the end writes each record once: job, 3 metrics, 2 logs, export, and
    the positions of the two streams that moved (OCRJobs had nothing)."""
    lifecycle(runtime)

    catalog_on(runtime, read_model).catch_up()

    assert read_model.table.writes == 1 + 3 + 2 + 1 + 2


def test_writes_per_job_lifecycle_queried_after_every_step(
    runtime: Runtime, read_model: DynamoDBJobReadModel
) -> None:
    """A query after each step rewrites the job item per status change (3) and a position
    per catch-up that found something (8 on Jobs, 1 on Exports)."""
    lifecycle(runtime, catalog_on(runtime, read_model))

    assert read_model.table.writes == 3 + 3 + 2 + 1 + 8 + 1


def test_a_second_projector_starts_from_the_stored_position(
    runtime: Runtime, read_model: DynamoDBJobReadModel
) -> None:
    job_id = lifecycle(runtime)
    catalog_on(runtime, read_model).catch_up()

    # another process: a fresh read model object on the same table
    again = DynamoDBJobReadModel(read_model.table.name)
    catalog = catalog_on(runtime, again)

    assert catalog.by_name("receipts-2026-11-22-0930").job_id == job_id
    assert len(catalog.metrics(job_id)) == 3
    assert again.table.writes == 0


def test_a_missing_table_is_named(runtime: Runtime, aws_env: dict[str, str]) -> None:
    catalog = catalog_on(runtime, DynamoDBJobReadModel("no-such-read-model"))

    with pytest.raises(TableMissing, match=r"'no-such-read-model'.*does not exist"):
        catalog.all()


def test_a_record_over_400_kb_is_refused_by_name(
    runtime: Runtime, read_model: DynamoDBJobReadModel
) -> None:
    """The DynamoDB event store keeps events under 350 KB; an event from another store may
    not be, and its record is refused naming the item instead of failing inside boto3."""
    job_id = runtime.jobs.create_job(JobDraft(name="chatty"))
    runtime.jobs.append_log(job_id, LogEntry(message="x" * 500_000, timestamp=T0))

    with pytest.raises(ItemTooLarge, match=rf"item JOB#{job_id} / LOG#.* is 50\d,\d+ bytes"):
        catalog_on(runtime, read_model).catch_up()

    assert read_model.position("Jobs") == 0
