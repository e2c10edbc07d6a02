"""The TrainingBackend port on SageMaker: one training job per train(), polled to its end.

The container (`receipts.entrypoints.sagemaker_train`) records evaluations and logs in the
same event store (the job's environment carries the `RECEIPTS_*` settings) and leaves its
JobResults in `<runs prefix>/<job>/results.json`; this side maps SageMaker's terminal status:
Completed → those results, Failed → TrainingFailed(FailureReason), Stopped → cancelled (when
the job was cancelled) or failed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from receipts.adapters.aws_clients import client
from receipts.adapters.sagemaker.hyperparameters import to_hyperparameters
from receipts.adapters.sagemaker.results import read_results, results_uri
from receipts.adapters.sagemaker.settings import SageMakerSettings
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.training_backend import (
    TrainingCancelled,
    TrainingFailed,
    TrainingReporter,
    TrainingSpec,
)
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.config import JobConfig
from receipts.domain.job import JobResults
from receipts.settings import Settings

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
CHANNEL = "training"
CHECKPOINT_PATH = "/opt/ml/checkpoints"
NAME_LIMIT = 63
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9-]+")
# what a container needs to write to the same event store, queues and bucket
_SHARED_SETTINGS = (
    "mode",
    "events_table",
    "table",
    "bucket",
    "export_queue",
    "export_results_queue",
    "ocr_queue",
    "ocr_results_queue",
    "log_level",
)


class SageMakerStopFailed(TrainingFailed):
    """stop_training_job was refused: the training job may still be running (and billing)."""


def training_job_name(job_name: str, job_id: object, resume_from: str | None = None) -> str:
    """A SageMaker name for this run of the job: the job's name where SageMaker allows it
    (letters, digits, hyphens, 63 at most), with a short hash when it had to change or when
    the run resumes (a training job name is never reused)."""
    base = _NOT_ALLOWED.sub("-", job_name).strip("-") or "receipts"
    if base == job_name and resume_from is None and len(base) <= NAME_LIMIT:
        return base
    digest = hashlib.sha256(f"{job_id}:{job_name}:{resume_from or ''}".encode()).hexdigest()[:8]
    return f"{base[: NAME_LIMIT - 9].rstrip('-')}-{digest}"


def container_environment(settings: Settings, runs_prefix: str) -> dict[str, str]:
    """The `RECEIPTS_*` settings a container needs to write to the same event store."""
    shared = {f"RECEIPTS_{name.upper()}": getattr(settings, name) for name in _SHARED_SETTINGS}
    return {**shared, "RECEIPTS_LOG_FORMAT": "json", "RECEIPTS_RUNS_PREFIX": runs_prefix}


class SageMakerTrainingBackend:
    name = "sagemaker"

    def __init__(
        self,
        settings: SageMakerSettings,
        runs_prefix: str,
        artifacts: ArtifactStore,
        environment: Mapping[str, str] | None = None,
        *,
        sagemaker: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        prefix = ArtifactURI.parse(runs_prefix).as_prefix()
        if prefix.scheme != "s3":
            raise ValueError(f"SageMaker writes its output to S3: runs prefix {runs_prefix!r}")
        self.settings = settings
        self.runs_prefix = prefix
        self.artifacts = artifacts
        self.environment = dict(environment or {})
        self.sagemaker = sagemaker if sagemaker is not None else client("sagemaker")
        self.sleep = sleep

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        name, arn = self._create(spec, reporter)
        reporter.log(
            f"SageMaker training job {name} created",
            training_job_name=name,
            training_job_arn=arn,
            instance_type=self.settings.instance_type,
            instance_count=self.settings.instance_count,
            spot=self.settings.use_spot,
        )
        described = self._wait(name, spec, reporter)
        return self._outcome(name, spec, reporter, described)

    def launch(self, spec: TrainingSpec) -> str:
        """Creates the training job and returns its ARN at once: the start-training Lambda's
        TrainingLauncher, whose job ends when SageMaker's state change reaches queue_export."""
        return self._create(spec, None)[1]

    def request(self, spec: TrainingSpec, name: str, input_uri: str | None) -> dict[str, Any]:
        """The CreateTrainingJob request for a run of this spec."""
        s = self.settings
        run = self.runs_prefix.join(spec.job_name)
        request: dict[str, Any] = {
            "TrainingJobName": name,
            "AlgorithmSpecification": {"TrainingImage": s.image_uri, "TrainingInputMode": "File"},
            "RoleArn": s.role_arn,
            "HyperParameters": to_hyperparameters(spec.config),
            "OutputDataConfig": {"S3OutputPath": str(run.as_prefix())},
            "ResourceConfig": {
                "InstanceType": s.instance_type,
                "InstanceCount": s.instance_count,
                "VolumeSizeInGB": s.volume_size_gb,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": s.max_runtime_seconds},
            "Environment": {
                **self.environment,
                "RECEIPTS_JOB_ID": str(spec.job_id),
                "RECEIPTS_JOB_NAME": spec.job_name,
            },
            "Tags": [{"Key": "receipts-job-id", "Value": str(spec.job_id)}],
        }
        if input_uri:
            request["InputDataConfig"] = [
                {
                    "ChannelName": CHANNEL,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": input_uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ]
        if s.use_spot:
            request["EnableManagedSpotTraining"] = True
            request["StoppingCondition"]["MaxWaitTimeInSeconds"] = s.max_wait
            request["CheckpointConfig"] = {
                "S3Uri": str(run.join("checkpoints").as_prefix()),
                "LocalPath": CHECKPOINT_PATH,
            }
        return request

    def problems(self, config: JobConfig) -> list[str]:
        """What keeps the container from reading the job's data (then nothing is launched)."""
        data = config.data
        if not (data.dataset or data.dynamo_table or data.dataset_snapshot_load):
            return ["no data: name a dataset, a dynamo_table or a dataset_snapshot_load"]
        problems = []
        local = data.dataset and not data.dataset.startswith("s3://")
        if local and not self.settings.input_uri and not Path(str(data.dataset)).is_file():
            problems.append(f"dataset {data.dataset}: no such file to upload for SageMaker")
        snapshot = data.dataset_snapshot_load
        if snapshot and not snapshot.startswith("s3://") and not self.settings.input_uri:
            problems.append(f"dataset snapshot {snapshot}: SageMaker reads snapshots from S3")
        return problems

    def _input_uri(self, spec: TrainingSpec) -> str | None:
        """The training channel: the configured prefix, the dataset when it is on S3, or a
        local dataset file uploaded next to the run."""
        if self.settings.input_uri:
            return self.settings.input_uri
        data = spec.config.data
        for source in (data.dataset, data.dataset_snapshot_load):
            if source and source.startswith("s3://"):
                return source
        if data.dataset:
            path = Path(data.dataset)
            uri = self.runs_prefix.join(spec.job_name, "input", path.name)
            self.artifacts.upload_file(path, str(uri))
            return str(uri)
        return None  # the container reads the labels from DynamoDB

    def _create(self, spec: TrainingSpec, reporter: TrainingReporter | None) -> tuple[str, str]:
        """Creates this run's training job (or finds it created); its name and ARN."""
        problems = self.problems(spec.config)
        if problems:
            raise TrainingFailed("; ".join(problems))
        name = training_job_name(spec.job_name, spec.job_id, spec.resume_from_uri)
        request = self.request(spec, name, self._input_uri(spec))
        try:
            arn: str = self.sagemaker.create_training_job(**request)["TrainingJobArn"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceInUse":
                raise TrainingFailed(
                    f"SageMaker refused training job {name}: {_message(error)}"
                ) from None
            # a launcher that died after creating it: follow the existing training job
            arn = self._describe(name)["TrainingJobArn"]
            if reporter is not None:
                reporter.log(f"SageMaker training job {name} exists: following it", "warning")
        return name, arn

    def _wait(self, name: str, spec: TrainingSpec, reporter: TrainingReporter) -> dict[str, Any]:
        stop_requested = False
        seen: str | None = None
        while True:
            described = self._describe(name)
            secondary = described.get("SecondaryStatus")
            if secondary and secondary != seen:
                seen = secondary
                reporter.log(f"SageMaker: {secondary}", training_job_name=name)
            if described["TrainingJobStatus"] in TERMINAL:
                return described
            if not stop_requested and reporter.cancelled():
                self.stop(name, spec.job_name)
                stop_requested = True
            self.sleep(self.settings.poll_seconds)

    def stop(self, name: str, job_name: str) -> None:
        try:
            self.sagemaker.stop_training_job(TrainingJobName=name)
        except (ClientError, BotoCoreError) as error:
            raise SageMakerStopFailed(
                f"could not stop SageMaker training job {name} (job {job_name}):"
                f" {_message(error)}; it may still be running: stop it with"
                f" `aws sagemaker stop-training-job --training-job-name {name}`"
            ) from None

    def _outcome(
        self,
        name: str,
        spec: TrainingSpec,
        reporter: TrainingReporter,
        described: dict[str, Any],
    ) -> JobResults:
        status = described["TrainingJobStatus"]
        secondary = described.get("SecondaryStatus", "")
        if status == "Failed":
            raise TrainingFailed(
                described.get("FailureReason")
                or f"SageMaker training job {name} failed ({secondary or 'no reason given'})"
            )
        if status == "Stopped":
            if reporter.cancelled():
                raise TrainingCancelled
            raise TrainingFailed(f"SageMaker training job {name} was stopped ({secondary})")
        results = read_results(self.artifacts, str(self.runs_prefix), spec.job_name)
        if results is None:
            raise TrainingFailed(
                f"SageMaker training job {name} completed but left no results at"
                f" {results_uri(str(self.runs_prefix), spec.job_name)}"
            )
        extra = {
            **results.extra,
            "training_job_name": name,
            "training_job_arn": described.get("TrainingJobArn"),
            "model_artifacts": described.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
            "billable_seconds": described.get("BillableTimeInSeconds"),
        }
        return results.model_copy(update={"extra": extra})

    def _describe(self, name: str) -> dict[str, Any]:
        try:
            described: dict[str, Any] = self.sagemaker.describe_training_job(TrainingJobName=name)
        except ClientError as error:
            raise TrainingFailed(
                f"cannot describe SageMaker training job {name}: {_message(error)}"
            ) from None
        return described


def _message(error: Exception) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        code = detail.get("Code") or error.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode"
        )
        return f"{code}: {detail.get('Message') or error}"
    return str(error)
