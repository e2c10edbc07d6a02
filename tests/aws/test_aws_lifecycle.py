"""The whole lifecycle in aws mode on the moto server, through the Lambda handlers:

start-training (the seeds' payload) → a training "container" (another Runtime on the same
tables) trains, uploads a checkpoint and leaves its results → the SageMaker state-change
event goes through an EventBridge rule with the template's pattern → queue_export → the
seeds' message is on SQS, pointing at the checkpoint → the export worker exports it → its
result goes through the export_results handler. With the skip tag, no message. One variant
trains a tiny LayoutLM and leaves no results file (the model artifacts are the checkpoint).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from cfnlint.decode.cfn_yaml import load  # type: ignore[import-untyped]
from tests.aws.lambda_support import completed

from receipts.adapters.aws_clients import client
from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.adapters.simulated.training_backend import SimulatedTrainingBackend
from receipts.application.export.export_worker import ExportWorker
from receipts.application.ports.training_backend import TrainingBackend, TrainingSpec
from receipts.application.training.run_training import JobReporter
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.job import JobResults, JobStatus
from receipts.entrypoints.lambdas import export_results, queue_export, start_training
from receipts.entrypoints.lambdas.runtime import current_runtime
from receipts.settings import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
SEED_KEYS = {"export_id", "job_id", "model_s3_uri", "quantize", "output_s3_prefix"}


@pytest.fixture
def container(lambda_env: dict[str, str]) -> Iterator[Runtime]:
    """The training container's own Runtime: another process on the same tables and bucket."""
    runtime = bootstrap(Settings.from_env())
    yield runtime
    runtime.close()


@pytest.fixture
def eventbridge(lambda_env: dict[str, str], unique_name: str) -> Iterator[str]:
    """A rule with the template's pattern whose target is a queue: what queue_export gets."""
    resource = load(str(TEMPLATE))["Resources"]["QueueExportFunction"]
    [rule] = resource["Properties"]["Events"].values()
    pattern = rule["Properties"]["Pattern"]
    pattern["detail"]["TrainingJobName"] = [{"prefix": "layoutlm-"}]  # JobNamePrefix default
    sqs, events = client("sqs"), client("events")
    url = sqs.create_queue(QueueName=f"{unique_name}-target")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name=unique_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=unique_name, Targets=[{"Id": "queue", "Arn": arn["QueueArn"]}])
    yield url
    events.remove_targets(Rule=unique_name, Ids=["queue"])
    events.delete_rule(Name=unique_name)


def route(target_url: str, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Puts the event on the bus; returns what the rule delivered."""
    response = client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    messages = client("sqs").receive_message(QueueUrl=target_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def messages_for(queue_url: str, job_id: UUID) -> list[dict[str, Any]]:
    """The messages on the queue about this job (received: invisible for their timeout)."""
    response = client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    messages: list[dict[str, Any]] = response.get("Messages", [])
    return [m for m in messages if json.loads(m["Body"]).get("job_uuid") == str(job_id)]


def queue_url(name_or_url: str) -> str:
    return str(client("sqs").get_queue_url(QueueName=name_or_url)["QueueUrl"])


def keys_under(uri: str) -> set[str]:
    parsed = ArtifactURI.parse(uri)
    listed = client("s3").list_objects_v2(Bucket=parsed.bucket, Prefix=parsed.key)
    return {item["Key"].removeprefix(parsed.key) for item in listed.get("Contents", [])}


def train_in_container(container: Runtime, name: str, backend: TrainingBackend) -> JobResults:
    """What the SageMaker container does: start the job, train, report; SageMaker (not the
    container) then says Completed."""
    job = container.jobs.get_job_by_name(name)
    container.jobs.start_job(job.id)
    spec = TrainingSpec(job_id=job.id, job_name=name, config=job.config)
    return backend.train(spec, JobReporter(container.jobs, job.id))


def start(name: str, **payload: Any) -> UUID:
    response = start_training.handler({"job_name": name, **payload}, None)
    assert response["statusCode"] == 201, response
    assert response["body"]["status"] == "pending"
    return UUID(response["body"]["job_id"])


def test_a_job_trained_elsewhere_is_exported_when_sagemaker_says_completed(
    lambda_env: dict[str, str], container: Runtime, eventbridge: str
) -> None:
    name = f"layoutlm-{uuid4().hex[:8]}"
    job_id = start(name, hyperparameters={"epochs": "3", "early_stopping_patience": "0"})
    backend = SimulatedTrainingBackend(container.artifacts, container.runs_prefix())
    results = train_in_container(container, name, backend)
    # as the SageMaker container does for its launcher; SageMaker itself uploads an archive
    container.artifacts.put_bytes(
        f"{container.runs_prefix()}{name}/results.json", results.model_dump_json().encode()
    )
    archive = f"s3://{lambda_env['LAYOUTLM_TRAINING_BUCKET']}/output/{name}/output/model.tar.gz"
    assert current_runtime().jobs.get_job(job_id).status is JobStatus.RUNNING

    [delivered] = route(eventbridge, completed(name, archive))
    outcome = queue_export.handler(delivered, None)

    export_id = ExportJob.auto_id_for(job_id)
    assert outcome["outcome"] == "succeeded"
    assert outcome["export_id"] == str(export_id)
    [message] = messages_for(queue_url(lambda_env["COREML_EXPORT_JOB_QUEUE_URL"]), job_id)
    body = json.loads(message["Body"])
    assert set(body) >= SEED_KEYS
    assert body["export_id"] == str(export_id)
    assert (body["job_id"], body["job_uuid"]) == (name, str(job_id))
    assert body["quantize"] == "float16"
    bucket = lambda_env["LAYOUTLM_TRAINING_BUCKET"]
    assert body["model_s3_uri"] == f"s3://{bucket}/runs/{name}/best/"
    assert "config.json" in keys_under(body["model_s3_uri"])
    assert body["output_s3_prefix"] == f"s3://{bucket}/runs/{name}/coreml/"
    job = current_runtime().jobs.get_job(job_id)
    assert job.status is JobStatus.SUCCEEDED
    assert job.results == results

    # the repeated event (EventBridge delivers at least once) changes nothing
    assert queue_export.handler(delivered, None)["outcome"] == "unchanged"

    # the export worker (its own Runtime) exports; its result reaches export_results
    client("sqs").change_message_visibility(
        QueueUrl=queue_url(lambda_env["COREML_EXPORT_JOB_QUEUE_URL"]),
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    worker = ExportWorker(
        exports=container.exports,
        jobs_queue=container.queues.export_jobs,
        results_queue=container.queues.export_results,
        artifacts=container.artifacts,
        exporter=SimulatedExporter(),
    )
    assert worker.drain() == ["exported"]
    results_url = queue_url(lambda_env["COREML_EXPORT_RESULTS_QUEUE_URL"])
    [result] = messages_for(results_url, job_id)
    record = {"messageId": result["MessageId"], "body": result["Body"], "attributes": {}}
    assert export_results.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    export = current_runtime().exports.get_export(export_id)
    assert export.status is ExportStatus.SUCCEEDED
    assert export.outcome is not None
    assert keys_under(export.outcome.bundle_uri)


def test_a_job_tagged_skip_coreml_export_succeeds_without_a_message(
    lambda_env: dict[str, str], container: Runtime, eventbridge: str
) -> None:
    name = f"layoutlm-{uuid4().hex[:8]}"
    job_id = start(name, hyperparameters={"epochs": "1"}, tags={"skip-coreml-export": "true"})
    backend = SimulatedTrainingBackend(container.artifacts, container.runs_prefix())
    results = train_in_container(container, name, backend)

    [delivered] = route(eventbridge, completed(name, results.best_checkpoint_uri))
    outcome = queue_export.handler(delivered, None)

    assert outcome["status"] == "succeeded"
    assert outcome["export_skipped"] == "tagged skip-coreml-export"
    assert messages_for(queue_url(lambda_env["COREML_EXPORT_JOB_QUEUE_URL"]), job_id) == []
    assert current_runtime().exports.auto_export_of(job_id) is None


def test_events_of_other_jobs_and_states_do_not_reach_queue_export(
    lambda_env: dict[str, str], eventbridge: str
) -> None:
    other = completed("someone-elses-job", "s3://bucket/model/")
    in_progress = completed("layoutlm-x", "s3://bucket/model/")
    in_progress["detail"]["TrainingJobStatus"] = "InProgress"

    assert route(eventbridge, other) == []
    assert route(eventbridge, in_progress) == []


def test_a_tiny_layoutlm_trained_to_s3_is_what_the_export_message_points_at(
    lambda_env: dict[str, str], container: Runtime, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    from receipts.adapters.synthetic.generator import generate_receipts
    from receipts.adapters.torch.trainer import LayoutLMTrainer
    from receipts.application.ports.training_backend import TrainingReporter
    from receipts.application.ports.training_data import PreparedDataset
    from receipts.application.training.datasets import prepare_dataset

    receipts = generate_receipts(12, seed=3)

    def synthetic(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
        hp = spec.config.hyperparameters
        return prepare_dataset(
            receipts, spec.config.data, seed=hp.seed, source="synthetic:3:12", o_entity_ratio=None
        )

    name = f"layoutlm-tiny-{uuid4().hex[:8]}"
    job_id = start(
        name,
        hyperparameters={
            "epochs": "1",
            "batch_size": "8",
            "learning_rate": "1e-3",
            "merge_amounts": "true",
            "model_size": "tiny",
            "max_seq_length": "96",
            "stride": "16",
        },
    )
    trainer = LayoutLMTrainer(
        synthetic,
        tmp_path,
        container.artifacts,
        container.runs_prefix(),
        handle_signals=False,
        device="cpu",
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = train_in_container(container, name, trainer)
    finally:
        torch.set_num_threads(threads)

    outcome = queue_export.handler(completed(name, results.best_checkpoint_uri), None)

    assert outcome["outcome"] == "succeeded"
    [message] = messages_for(queue_url(lambda_env["COREML_EXPORT_JOB_QUEUE_URL"]), job_id)
    body = json.loads(message["Body"])
    assert body["export_id"] == str(ExportJob.auto_id_for(job_id))
    assert body["model_s3_uri"] == results.best_checkpoint_uri
    assert {"config.json", "model.safetensors"} <= keys_under(body["model_s3_uri"])
    job = current_runtime().jobs.get_job(job_id)
    assert job.results is not None
    assert job.results.epochs_run == 1
    assert job.results.best_f1 == pytest.approx(results.best_f1)
