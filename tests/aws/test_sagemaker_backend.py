"""SageMakerTrainingBackend against a moto server (real boto3 over HTTP).

moto creates a training job `Completed` at once and does not implement StopTrainingJob
(HTTP 500): the tests use both facts. What moto cannot produce (InProgress, then Stopped or
Failed) is covered by `tests/unit/test_sagemaker_status.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

pytest.importorskip("moto")

from receipts.adapters.aws_clients import client, retry_config
from receipts.adapters.s3.artifact_store import S3ArtifactStore
from receipts.adapters.sagemaker.hyperparameters import to_hyperparameters
from receipts.adapters.sagemaker.results import write_results
from receipts.adapters.sagemaker.settings import SageMakerSettings
from receipts.adapters.sagemaker.training_backend import (
    SageMakerStopFailed,
    SageMakerTrainingBackend,
    container_environment,
    training_job_name,
)
from receipts.application.ports.training_backend import TrainingSpec
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.config import JobConfig
from receipts.domain.errors import JobNotFound
from receipts.domain.job import JobDraft, JobResults, JobStatus
from receipts.settings import InvalidSettings, Settings

ROLE = "arn:aws:iam::123456789012:role/layoutlm-training"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/layoutlm:latest"
CONFIG: dict[str, Any] = {
    "hyperparameters": {"epochs": 3, "learning_rate": 6e-5, "o_entity_ratio": 2.0},
    "data": {
        "merge_amounts": True,
        "allowed_labels": ["DATE", "AMOUNT"],
        "dynamo_table": "Receipts",
    },
    "model": {"model_size": "tiny", "max_seq_length": 128, "stride": 32},
}


@pytest.fixture
def bucket(aws_env: dict[str, str], unique_name: str) -> str:
    client("s3").create_bucket(Bucket=unique_name)
    return unique_name


@pytest.fixture
def artifacts(aws_env: dict[str, str]) -> S3ArtifactStore:
    return S3ArtifactStore()


@pytest.fixture
def sagemaker(aws_env: dict[str, str]) -> Any:
    """One attempt per call: moto's StopTrainingJob 500 would otherwise be retried 10 times."""
    return client("sagemaker", config=retry_config(max_attempts=1))


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    yield runtime
    runtime.close()


def settings(**changes: Any) -> SageMakerSettings:
    return SageMakerSettings(role_arn=ROLE, image_uri=IMAGE, poll_seconds=0.01, **changes)


def backend(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, **changes: Any
) -> SageMakerTrainingBackend:
    runs = f"s3://{bucket}/runs/"
    environment = container_environment(Settings(mode="aws", bucket=bucket), runs)
    return SageMakerTrainingBackend(
        settings(**changes), runs, artifacts, environment, sagemaker=sagemaker
    )


def spec(name: str, **data: Any) -> TrainingSpec:
    config = JobConfig.parse({**CONFIG, "data": {**CONFIG["data"], **data}})
    return TrainingSpec(job_id=uuid4(), job_name=name, config=config)


def results(bucket: str, name: str) -> JobResults:
    return JobResults(
        best_checkpoint_uri=f"s3://{bucket}/runs/{name}/best/",
        best_f1=0.71,
        best_epoch=2,
        epochs_run=3,
    )


class Reporter:
    def __init__(self, cancelled: bool = False) -> None:
        self.logs: list[tuple[str, dict[str, Any]]] = []
        self._cancelled = cancelled

    def evaluation(self, evaluation: Any) -> None:
        raise AssertionError("the container reports evaluations, not the launcher")

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        self.logs.append((message, data))

    def run_config(self, data: dict[str, Any]) -> None:
        raise AssertionError("the container logs the run config")

    def checkpoint(self, uri: str) -> None:
        raise AssertionError("the container records its checkpoints")

    def cancelled(self) -> bool:
        return self._cancelled


# -- the CreateTrainingJob request, as SageMaker records it --------------------------------


def test_the_training_job_carries_the_exact_hyperparameter_map_output_and_input(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str
) -> None:
    job = spec(unique_name, dataset=f"s3://{bucket}/data/receipts.jsonl")
    write_results(artifacts, f"s3://{bucket}/runs/", unique_name, results(bucket, unique_name))

    backend(bucket, artifacts, sagemaker, instance_count=2).train(job, Reporter())

    described = sagemaker.describe_training_job(TrainingJobName=unique_name)
    assert described["HyperParameters"] == to_hyperparameters(job.config)
    assert described["HyperParameters"]["learning_rate"] == "6e-05"
    assert described["HyperParameters"]["allowed_labels"] == "DATE,AMOUNT"
    assert described["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/runs/{unique_name}/"
    [channel] = described["InputDataConfig"]
    assert channel["ChannelName"] == "training"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{bucket}/data/receipts.jsonl"
    assert described["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert described["RoleArn"] == ROLE
    assert described["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 50,
    }
    assert not described.get("EnableManagedSpotTraining")
    assert "CheckpointConfig" not in described


def test_spot_training_sets_the_checkpoint_uri_and_max_wait(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str
) -> None:
    write_results(artifacts, f"s3://{bucket}/runs/", unique_name, results(bucket, unique_name))
    spot = backend(
        bucket,
        artifacts,
        sagemaker,
        use_spot=True,
        max_runtime_seconds=3600,
        max_wait_seconds=7200,
    )

    spot.train(spec(unique_name, dynamo_table="ReceiptsTable"), Reporter())

    described = sagemaker.describe_training_job(TrainingJobName=unique_name)
    assert described["EnableManagedSpotTraining"] is True
    assert described["CheckpointConfig"] == {
        "S3Uri": f"s3://{bucket}/runs/{unique_name}/checkpoints/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert described["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 3600,
        "MaxWaitTimeInSeconds": 7200,
    }
    assert "InputDataConfig" not in described  # labels come from DynamoDB


def test_the_container_environment_points_at_the_same_event_store(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str
) -> None:
    """moto does not echo Environment in DescribeTrainingJob: check the request itself."""
    job = spec(unique_name)

    request = backend(bucket, artifacts, sagemaker).request(job, unique_name, None)

    environment = request["Environment"]
    assert environment["RECEIPTS_MODE"] == "aws"
    assert environment["RECEIPTS_BUCKET"] == bucket
    assert environment["RECEIPTS_EVENTS_TABLE"] == "receipts-events"
    assert environment["RECEIPTS_RUNS_PREFIX"] == f"s3://{bucket}/runs/"
    assert environment["RECEIPTS_JOB_ID"] == str(job.job_id)
    assert environment["RECEIPTS_JOB_NAME"] == unique_name
    assert all(len(v) <= 512 for v in environment.values())


def test_a_local_dataset_file_is_uploaded_next_to_the_run_as_the_channel(
    bucket: str,
    artifacts: S3ArtifactStore,
    sagemaker: Any,
    unique_name: str,
    tmp_path: Path,
) -> None:
    dataset = tmp_path / "receipts.jsonl"
    dataset.write_text('{"receipt_id": "r1", "words": []}\n')
    write_results(artifacts, f"s3://{bucket}/runs/", unique_name, results(bucket, unique_name))

    backend(bucket, artifacts, sagemaker).train(spec(unique_name, dataset=str(dataset)), Reporter())

    uploaded = f"s3://{bucket}/runs/{unique_name}/input/receipts.jsonl"
    assert artifacts.get_bytes(uploaded) == dataset.read_bytes()
    described = sagemaker.describe_training_job(TrainingJobName=unique_name)
    assert described["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == uploaded


# -- outcomes ------------------------------------------------------------------------------


def test_a_completed_job_ends_succeeded_with_the_containers_results(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str, runtime: Runtime
) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name=unique_name, config=CONFIG))
    write_results(artifacts, f"s3://{bucket}/runs/", unique_name, results(bucket, unique_name))

    status = run_training(runtime.jobs, job_id, backend(bucket, artifacts, sagemaker))

    assert status is JobStatus.SUCCEEDED
    job = runtime.jobs.get_job(job_id)
    assert job.results is not None
    assert job.results.best_checkpoint_uri == f"s3://{bucket}/runs/{unique_name}/best/"
    assert (job.results.best_f1, job.results.best_epoch) == (0.71, 2)
    extra = job.results.extra
    assert extra["training_job_name"] == unique_name
    assert extra["model_artifacts"] == (
        f"s3://{bucket}/runs/{unique_name}/{unique_name}/output/model.tar.gz"
    )
    messages = [entry.message for entry in runtime.jobs.logs_of(job_id)]
    assert f"SageMaker training job {unique_name} created" in messages
    assert "SageMaker: Completed" in messages


def test_a_completed_job_without_results_fails_naming_where_they_should_be(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str, runtime: Runtime
) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name=unique_name, config=CONFIG))

    status = run_training(runtime.jobs, job_id, backend(bucket, artifacts, sagemaker))

    assert status is JobStatus.FAILED
    reason = runtime.jobs.get_job(job_id).status_reason or ""
    assert f"training job {unique_name} completed but left no results" in reason
    assert f"s3://{bucket}/runs/{unique_name}/results.json" in reason


def test_a_refused_stop_is_an_error_naming_the_training_job(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str
) -> None:
    """moto answers StopTrainingJob with HTTP 500 (not implemented)."""
    sagemaker_backend = backend(bucket, artifacts, sagemaker)
    sagemaker_backend.launch(spec(unique_name))

    with pytest.raises(SageMakerStopFailed) as refused:
        sagemaker_backend.stop(unique_name, "my-job")

    message = str(refused.value)
    assert f"could not stop SageMaker training job {unique_name} (job my-job)" in message
    assert "500" in message
    assert f"stop-training-job --training-job-name {unique_name}" in message


def test_launch_returns_the_arn_at_once(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str
) -> None:
    arn = backend(bucket, artifacts, sagemaker).launch(spec(unique_name))

    assert arn.endswith(f":training-job/{unique_name}")
    assert sagemaker.describe_training_job(TrainingJobName=unique_name)["TrainingJobArn"] == arn


def test_a_runs_prefix_outside_s3_is_refused(artifacts: S3ArtifactStore, sagemaker: Any) -> None:
    with pytest.raises(ValueError, match="SageMaker writes its output to S3"):
        SageMakerTrainingBackend(settings(), "file:///tmp/runs/", artifacts, sagemaker=sagemaker)


# -- names and settings --------------------------------------------------------------------


def test_a_valid_job_name_is_the_training_job_name_and_others_are_made_valid() -> None:
    job_id = uuid4()

    assert training_job_name("layoutlm-my-experiment", job_id) == "layoutlm-my-experiment"
    fixed = training_job_name("receipts_2025.11:13", job_id)
    assert (
        fixed.startswith("receipts-2025-11-13-") and len(fixed) == len("receipts-2025-11-13-") + 8
    )
    long = training_job_name("x" * 128, job_id)
    assert len(long) == 63
    resumed = training_job_name("layoutlm-a", job_id, "file:///opt/ml/checkpoints/a/checkpoint-9/")
    assert resumed.startswith("layoutlm-a-") and resumed != "layoutlm-a"
    for name in (fixed, long, resumed):
        assert name[0].isalnum() and name[-1].isalnum()
        assert all(c.isalnum() or c == "-" for c in name)


def test_settings_come_from_the_environment_with_each_problem_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def from_env(variables: dict[str, str]) -> SageMakerSettings:
        for key in [k for k in os.environ if k.startswith("RECEIPTS_SAGEMAKER_")]:
            monkeypatch.delenv(key)
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        return SageMakerSettings.from_env()

    read = from_env(
        {
            "RECEIPTS_SAGEMAKER_ROLE_ARN": ROLE,
            "RECEIPTS_SAGEMAKER_IMAGE_URI": IMAGE,
            "RECEIPTS_SAGEMAKER_INSTANCE_COUNT": "2",
            "RECEIPTS_SAGEMAKER_USE_SPOT": "true",
        }
    )
    assert (read.instance_count, read.use_spot) == (2, True)
    assert read.max_wait == 2 * read.max_runtime_seconds

    with pytest.raises(InvalidSettings) as missing:
        from_env({"RECEIPTS_SAGEMAKER_INSTANCE_TYPE": "g5.xlarge"})
    message = str(missing.value)
    assert "RECEIPTS_SAGEMAKER_ROLE_ARN: not set" in message
    assert "RECEIPTS_SAGEMAKER_IMAGE_URI: not set" in message
    assert (
        "RECEIPTS_SAGEMAKER_INSTANCE_TYPE: a SageMaker instance type starts with 'ml.'" in message
    )

    with pytest.raises(InvalidSettings, match="ROLE_ARN: expected arn:aws:iam"):
        from_env({"RECEIPTS_SAGEMAKER_ROLE_ARN": "admin", "RECEIPTS_SAGEMAKER_IMAGE_URI": IMAGE})


def test_results_round_trip_through_s3(
    bucket: str, artifacts: S3ArtifactStore, unique_name: str
) -> None:
    written = results(bucket, unique_name)
    uri = write_results(artifacts, f"s3://{bucket}/runs/", unique_name, written)

    assert uri == f"s3://{bucket}/runs/{unique_name}/results.json"
    assert JobResults.model_validate(json.loads(artifacts.get_bytes(uri))) == written


# -- wiring: the start-training Lambda launches on SageMaker -------------------------------


def test_the_start_training_lambda_launches_a_spot_training_job(
    aws_env: dict[str, str],
    bucket: str,
    unique_name: str,
    sagemaker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from receipts.bootstrap.training import sagemaker_backend
    from receipts.entrypoints.lambdas.start_training import start_training

    monkeypatch.setenv("RECEIPTS_SAGEMAKER_ROLE_ARN", ROLE)
    monkeypatch.setenv("RECEIPTS_SAGEMAKER_IMAGE_URI", IMAGE)
    aws = Settings(
        mode="aws",
        bucket=bucket,
        events_table=f"{unique_name}-events",
        table=unique_name,
        export_queue=f"{unique_name}-export",
        export_results_queue=f"{unique_name}-results",
        ocr_queue=f"{unique_name}-ocr",
        ocr_results_queue=f"{unique_name}-ocr-results",
        create_resources=True,
    )
    runtime = bootstrap(aws)
    payload = {
        "job_name": unique_name,
        "use_spot": True,
        "hyperparameters": {"epochs": "3", "merge_amounts": "true", "dynamo_table": "Receipts"},
    }
    try:
        response = start_training(payload, runtime, sagemaker_backend)
        job = runtime.jobs.get_job_by_name(unique_name)
    finally:
        runtime.close()

    assert response["statusCode"] == 201, response
    assert response["body"]["status"] == "running"
    assert job.status is JobStatus.RUNNING
    described = sagemaker.describe_training_job(TrainingJobName=unique_name)
    assert described["EnableManagedSpotTraining"] is True
    assert described["HyperParameters"] == to_hyperparameters(job.config)
    assert described["HyperParameters"]["dynamo_table"] == "Receipts"


def aws_settings(bucket: str, unique_name: str) -> Settings:
    return Settings(
        mode="aws",
        bucket=bucket,
        events_table=f"{unique_name}-events",
        table=unique_name,
        export_queue=f"{unique_name}-export",
        export_results_queue=f"{unique_name}-results",
        ocr_queue=f"{unique_name}-ocr",
        ocr_results_queue=f"{unique_name}-ocr-results",
        create_resources=True,
    )


@pytest.fixture
def launch_env(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECEIPTS_SAGEMAKER_ROLE_ARN", ROLE)
    monkeypatch.setenv("RECEIPTS_SAGEMAKER_IMAGE_URI", IMAGE)


@pytest.mark.usefixtures("launch_env")
def test_the_seeds_payload_without_a_data_source_trains_on_the_configured_table(
    bucket: str, unique_name: str, sagemaker: Any
) -> None:
    from receipts.bootstrap.training import sagemaker_backend
    from receipts.entrypoints.lambdas.start_training import start_training

    runtime = bootstrap(aws_settings(bucket, unique_name))
    payload = {
        "job_name": unique_name,
        "use_spot": False,
        "hyperparameters": {"epochs": "10", "merge_amounts": "true"},
    }
    try:
        response = start_training(payload, runtime, sagemaker_backend)
        job = runtime.jobs.get_job_by_name(unique_name)
    finally:
        runtime.close()

    assert response["statusCode"] == 201, response
    assert job.config.data.dynamo_table == unique_name  # the seeds' DYNAMO_TABLE_NAME
    described = sagemaker.describe_training_job(TrainingJobName=unique_name)
    assert described["HyperParameters"]["dynamo_table"] == unique_name


@pytest.mark.usefixtures("launch_env")
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"dataset": "/nowhere/receipts.jsonl"}, "/nowhere/receipts.jsonl: no such file"),
        ({"dataset_snapshot_load": "/snapshots/a"}, "SageMaker reads snapshots from S3"),
    ],
)
def test_a_job_sagemaker_could_not_train_is_refused_and_nothing_launched(
    bucket: str, unique_name: str, sagemaker: Any, data: dict[str, str], problem: str
) -> None:
    from receipts.bootstrap.training import sagemaker_backend
    from receipts.entrypoints.lambdas.start_training import start_training

    runtime = bootstrap(aws_settings(bucket, unique_name))
    payload = {"job_name": unique_name, "hyperparameters": {"epochs": "1", **data}}
    try:
        response = start_training(payload, runtime, sagemaker_backend)
        with pytest.raises(JobNotFound):
            runtime.jobs.get_job_by_name(unique_name)
    finally:
        runtime.close()

    assert response["statusCode"] == 400, response
    assert any(problem in p for p in response["body"]["problems"]), response
    names = [j["TrainingJobName"] for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]]
    assert unique_name not in names


def test_a_job_naming_no_data_source_cannot_train_on_sagemaker(
    bucket: str, artifacts: S3ArtifactStore, sagemaker: Any, unique_name: str
) -> None:
    chosen = backend(bucket, artifacts, sagemaker)
    nothing = spec(unique_name, dynamo_table=None)

    assert chosen.problems(nothing.config) == [
        "no data: name a dataset, a dynamo_table or a dataset_snapshot_load"
    ]
    assert chosen.problems(spec(unique_name, dynamo_table="Receipts").config) == []


def test_the_sagemaker_backend_needs_aws_mode(runtime: Runtime) -> None:
    from receipts.bootstrap.training import sagemaker_backend

    with pytest.raises(ValueError, match="needs RECEIPTS_MODE=aws"):
        sagemaker_backend(runtime)
