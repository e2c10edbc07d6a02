"""How SageMakerTrainingBackend follows a training job's status to its end.

moto creates jobs `Completed` at once, so the sequences a real job goes through
(InProgress → Completed / Failed / Stopped, a stop after cancellation) are played here by a
scripted stand-in for the SageMaker client: it answers DescribeTrainingJob from a list and
records the calls. Requests and responses against real boto3 are in tests/aws.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from receipts.adapters.sagemaker.settings import SageMakerSettings
from receipts.adapters.sagemaker.training_backend import SageMakerTrainingBackend
from receipts.application.ports.artifact_store import ArtifactNotFound
from receipts.application.ports.training_backend import (
    TrainingCancelled,
    TrainingFailed,
    TrainingSpec,
)
from receipts.domain.config import JobConfig
from receipts.domain.job import JobResults

RUNS = "s3://bucket/runs/"


class ScriptedSageMaker:
    """Answers describe_training_job with the next status of its script (then the last)."""

    def __init__(self, *statuses: tuple[str, str], failure_reason: str | None = None) -> None:
        self.statuses = list(statuses)
        self.failure_reason = failure_reason
        self.calls: list[str] = []

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.calls.append("create")
        return {"TrainingJobArn": f"arn:aws:sagemaker:::training-job/{request['TrainingJobName']}"}

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append("describe")
        status, secondary = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        described = {
            "TrainingJobName": TrainingJobName,
            "TrainingJobStatus": status,
            "SecondaryStatus": secondary,
        }
        if status == "Failed" and self.failure_reason:
            described["FailureReason"] = self.failure_reason
        return described

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append("stop")
        return {}


class S3Objects:
    """The two calls the backend makes on its artifact store, over a dict of s3:// URIs."""

    scheme = "s3"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, uri: str, data: bytes) -> None:
        self.objects[uri] = data

    def get_bytes(self, uri: str) -> bytes:
        if uri not in self.objects:
            raise ArtifactNotFound(uri)
        return self.objects[uri]


class Reporter:
    def __init__(self, cancel_after: int | None = None) -> None:
        self.cancel_after = cancel_after
        self.checks = 0
        self.messages: list[str] = []

    def evaluation(self, evaluation: Any) -> None:
        pass

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        self.messages.append(message)

    def run_config(self, data: dict[str, Any]) -> None:
        pass

    def checkpoint(self, uri: str) -> None:
        pass

    def cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after


def backend(sagemaker: ScriptedSageMaker, store: Any) -> tuple[Any, list[float]]:
    sleeps: list[float] = []
    settings = SageMakerSettings(
        role_arn="arn:aws:iam::123456789012:role/r", image_uri="image", poll_seconds=7
    )
    return (
        SageMakerTrainingBackend(settings, RUNS, store, sagemaker=sagemaker, sleep=sleeps.append),
        sleeps,
    )


def spec() -> TrainingSpec:
    return TrainingSpec(
        job_id=uuid4(),
        job_name="layoutlm-a",
        config=JobConfig.parse({"data": {"dynamo_table": "T"}}),
    )


def test_it_polls_at_the_interval_until_completed_logging_each_new_secondary_status() -> None:
    store = S3Objects()
    results = JobResults(
        best_checkpoint_uri=RUNS + "layoutlm-a/best/", best_f1=0.5, best_epoch=1, epochs_run=1
    )
    store.put_bytes(RUNS + "layoutlm-a/results.json", results.model_dump_json().encode())
    sagemaker = ScriptedSageMaker(
        ("InProgress", "Starting"),
        ("InProgress", "Training"),
        ("InProgress", "Training"),
        ("Completed", "Completed"),
    )
    sagemaker_backend, sleeps = backend(sagemaker, store)
    reporter = Reporter()

    got = sagemaker_backend.train(spec(), reporter)

    assert got.best_f1 == 0.5 and got.extra["training_job_name"] == "layoutlm-a"
    assert sleeps == [7, 7, 7]
    assert sagemaker.calls == ["create"] + ["describe"] * 4
    assert [m for m in reporter.messages if m.startswith("SageMaker:")] == [
        "SageMaker: Starting",
        "SageMaker: Training",
        "SageMaker: Completed",
    ]


def test_a_failed_job_raises_its_failure_reason() -> None:
    sagemaker = ScriptedSageMaker(
        ("InProgress", "Training"),
        ("Failed", "Failed"),
        failure_reason="ValueError: loss became nan at epoch 3",
    )
    sagemaker_backend, _ = backend(sagemaker, S3Objects())

    with pytest.raises(TrainingFailed, match=r"^ValueError: loss became nan at epoch 3$"):
        sagemaker_backend.train(spec(), Reporter())


def test_cancelling_the_job_stops_the_training_job_once_and_ends_cancelled() -> None:
    sagemaker = ScriptedSageMaker(
        ("InProgress", "Training"),
        ("InProgress", "Training"),
        ("Stopping", "Stopping"),
        ("Stopped", "Stopped"),
    )
    sagemaker_backend, _ = backend(sagemaker, S3Objects())

    with pytest.raises(TrainingCancelled):
        sagemaker_backend.train(spec(), Reporter(cancel_after=1))

    assert sagemaker.calls.count("stop") == 1
    assert sagemaker.calls.index("stop") == 3  # create, describe, describe, then stop


def test_a_job_stopped_by_someone_else_fails_rather_than_staying_running() -> None:
    sagemaker = ScriptedSageMaker(("Stopped", "MaxRuntimeExceeded"))
    sagemaker_backend, _ = backend(sagemaker, S3Objects())

    with pytest.raises(TrainingFailed, match=r"layoutlm-a was stopped \(MaxRuntimeExceeded\)"):
        sagemaker_backend.train(spec(), Reporter())
