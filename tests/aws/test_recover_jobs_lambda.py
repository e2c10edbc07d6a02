"""The scheduled recover-jobs Lambda on the moto server: DynamoDB event store and single
table, as the template deploys it."""

from __future__ import annotations

from datetime import timedelta

from receipts.adapters.dynamodb.job_read_model import DynamoDBJobReadModel
from receipts.application.training.leases import LeaseTerms
from receipts.domain.aggregate import utc_now
from receipts.domain.job import JobDraft, JobStatus
from receipts.entrypoints.lambdas import recover_jobs
from receipts.entrypoints.lambdas.runtime import current_runtime

CHECKPOINT = "s3://bucket/runs/dead/checkpoint-40/"


def test_it_ends_jobs_whose_lease_expired_and_leaves_live_ones(lambda_env: dict[str, str]) -> None:
    DynamoDBJobReadModel(lambda_env["DYNAMO_TABLE_NAME"]).create_table()  # the template's
    jobs = current_runtime().jobs
    long_ago = utc_now() - timedelta(hours=1)
    dead = jobs.create_job(JobDraft(name="dead"))
    jobs.start_attempt(dead, "node-1:7", long_ago, 300)
    jobs.renew_lease(dead, 1, "node-1:7", long_ago, 300, CHECKPOINT)
    early = jobs.create_job(JobDraft(name="early"))
    jobs.start_attempt(early, "node-2:7", long_ago, 300)  # died before its first checkpoint
    alive = jobs.create_job(JobDraft(name="alive"))
    jobs.start_attempt(alive, LeaseTerms().holder, utc_now(), 300)

    response = recover_jobs.handler({"source": "aws.events"}, None)

    assert response["statusCode"] == 200
    outcomes = {r["job_name"]: r["outcome"] for r in response["body"]["recovered"]}
    assert outcomes == {"dead": "interrupted", "early": "failed", "alive": "live"}
    assert jobs.get_job(dead).status is JobStatus.INTERRUPTED
    assert jobs.get_job(dead).resume_checkpoint_uri == CHECKPOINT
    assert jobs.get_job(early).status is JobStatus.FAILED
    assert jobs.get_job(alive).status is JobStatus.RUNNING
    again = recover_jobs.handler({}, None)
    assert {r["outcome"] for r in again["body"]["recovered"]} == {"live"}
