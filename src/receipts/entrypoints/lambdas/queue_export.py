"""Lambda `queue_export`: a SageMaker training job's state change → the Job's end → export.

EventBridge delivers `SageMaker Training Job State Change` events (rule: source
aws.sagemaker, job names `layoutlm-*`). The Job is found by its name (the JobName index):

- Completed: the job succeeds with the results its run left at
  `<runs prefix>/<job name>/results.json` (the SageMaker container writes them for whoever
  launched it: the best checkpoint as a prefix the export worker can download, the lineage)
  or, when there are none, with the model artifacts as its best checkpoint and the best
  recorded evaluation as its F1. Recording Job.Succeeded is what makes the Exports policy
  request the ExportJob (unless the job is tagged `skip-coreml-export`) and the queue
  dispatcher send the seeds' message: no export is requested here directly.
- Failed → the job fails with the FailureReason; Stopped → it is cancelled.
- InProgress: a pending job is marked started; anything else is only logged.

A job already ended is left as it is (EventBridge delivers at least once), and a job name
the store does not know is logged and ignored: a retry could not find it either. A
malformed event is answered 400 naming each bad field (`queue_export` raises InvalidInput).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from receipts.application.ports.artifact_store import ArtifactNotFound
from receipts.application.training.jobs import Jobs, TrainingStatus
from receipts.bootstrap import Runtime
from receipts.domain.artifacts import ArtifactURI, URIText
from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput, JobNotFound
from receipts.domain.job import Job, JobResults, JobStatus
from receipts.entrypoints.lambdas.runtime import current_runtime

log = logging.getLogger("receipts.lambdas")

RESULTS_FILE = "results.json"
Outcome = Literal[
    "succeeded", "failed", "cancelled", "started", "unchanged", "ignored", "unknown_job"
]


class ModelArtifacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    s3_model_artifacts: URIText = Field(alias="S3ModelArtifacts")


class MetricDatum(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    metric_name: str = Field(alias="MetricName")
    value: float = Field(alias="Value")


class TrainingJobDetail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    training_job_name: str = Field(alias="TrainingJobName", min_length=1)
    training_job_status: TrainingStatus = Field(alias="TrainingJobStatus")
    failure_reason: str | None = Field(None, alias="FailureReason")
    model_artifacts: ModelArtifacts | None = Field(None, alias="ModelArtifacts")
    final_metrics: list[MetricDatum] = Field(default_factory=list, alias="FinalMetricDataList")
    training_job_arn: str | None = Field(None, alias="TrainingJobArn")

    @model_validator(mode="after")
    def _completed_has_artifacts(self) -> TrainingJobDetail:
        if self.training_job_status == "Completed" and self.model_artifacts is None:
            raise ValueError("a Completed training job needs ModelArtifacts.S3ModelArtifacts")
        return self


class TrainingJobStateChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Training Job State Change"] = Field(alias="detail-type")
    detail: TrainingJobDetail


def parse_event(event: object) -> TrainingJobStateChange:
    if not isinstance(event, Mapping):
        raise InvalidInput("EventBridge event", ["expected a JSON object"])
    try:
        return TrainingJobStateChange.model_validate(event)
    except ValidationError as error:
        raise InvalidInput("EventBridge event", validation_problems(error)) from None


ResultsReader = Callable[[Runtime, Job], JobResults | None]


def run_results(runtime: Runtime, job: Job) -> JobResults | None:
    """The JobResults the run left at `<runs prefix>/<job name>/results.json`, or None.

    The path is the convention of `adapters/sagemaker/results.py` (not imported: the Lambda
    package stays free of the SageMaker adapter)."""
    uri = str(ArtifactURI.parse(runtime.runs_prefix()).join(job.name, RESULTS_FILE))
    try:
        data = runtime.artifacts.get_bytes(uri)
    except ArtifactNotFound:
        return None
    try:
        return JobResults.model_validate_json(data)
    except ValidationError as error:
        raise InvalidInput(f"run results {uri}", validation_problems(error)) from None


def queue_export(
    event: object, runtime: Runtime, results_reader: ResultsReader = run_results
) -> dict[str, Any]:
    """Applies one state change to its Job; returns what happened (and the export, if any)."""
    parsed = event if isinstance(event, TrainingJobStateChange) else parse_event(event)
    change = parsed.detail
    name = change.training_job_name
    jobs = runtime.jobs
    try:
        job = jobs.get_job_by_name(name)
    except JobNotFound:
        log.warning(
            "queue_export: no job named %r (status %s): ignored; a retry would not find it",
            name,
            change.training_job_status,
        )
        return {"outcome": "unknown_job", "job_name": name}
    results = None
    if change.training_job_status == "Completed" and not job.is_terminal:
        results = results_reader(runtime, job) or _results_from_event(jobs, job, change)
    outcome: Outcome = jobs.apply_training_status(
        job.id, change.training_job_status, reason=change.failure_reason, results=results
    )
    job = jobs.get_job(job.id)
    result: dict[str, Any] = {
        "outcome": outcome,
        "job_id": str(job.id),
        "job_name": name,
        "status": job.status.value,
    }
    if job.status is JobStatus.SUCCEEDED:
        export = runtime.exports.auto_export_of(job.id)
        result["export_id"] = str(export.id) if export else None
        if export is None and job.skips_export:
            result["export_skipped"] = "tagged skip-coreml-export"
    log.info("queue_export: %s", result)
    return result


def _results_from_event(jobs: Jobs, job: Job, change: TrainingJobDetail) -> JobResults:
    """The model artifacts as the best checkpoint; F1 from the job's best evaluation, else
    from the event's final metrics (a metric whose name ends in `f1`), else 0."""
    assert change.model_artifacts is not None  # checked by TrainingJobDetail
    model_uri = change.model_artifacts.s3_model_artifacts
    if not model_uri.endswith("/"):
        log.info(
            "queue_export: job %s left no run results: its best checkpoint is the model"
            " archive %s (the export worker unpacks it)",
            job.name,
            model_uri,
        )
    evaluations = jobs.evaluations_of(job.id)
    best = max(evaluations, key=lambda e: e.f1, default=None)
    f1 = best.f1 if best else _final_f1(change.final_metrics)
    extra: dict[str, Any] = {"source": "sagemaker-state-change"}
    if change.training_job_arn:
        extra["training_job_arn"] = change.training_job_arn
    return JobResults(
        best_checkpoint_uri=model_uri,
        best_f1=min(1.0, max(0.0, f1)),
        best_epoch=best.epoch if best else 0,
        epochs_run=max((e.epoch for e in evaluations), default=0),
        extra=extra,
    )


def _final_f1(metrics: list[MetricDatum]) -> float:
    for metric in metrics:
        if metric.metric_name.lower().endswith("f1") and math.isfinite(metric.value):
            return metric.value
    return 0.0


RuntimeProvider = Callable[[], Runtime]


def make_handler(
    runtime: RuntimeProvider = current_runtime, results_reader: ResultsReader = run_results
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            change = parse_event(event)
        except InvalidInput as error:
            # EventBridge retries a failed invocation: a malformed event never improves
            log.warning("queue_export refused: %s", error)
            return {"statusCode": 400, "error": str(error), "problems": error.problems}
        return queue_export(change, runtime(), results_reader)

    return handle


handler = make_handler()
