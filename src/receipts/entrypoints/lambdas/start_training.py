"""Lambda `start-training`: the seeds' payload → a recorded Job, started on a backend.

    aws lambda invoke --function-name <start-training> --payload '{"job_name": "layoutlm-x",
      "use_spot": false, "hyperparameters": {"epochs": "10", "merge_amounts": "true"}}'

The payload is validated first (each bad field named; a 400 body and nothing recorded). In
aws mode a payload naming no data source trains on the configured table (the seeds'
DYNAMO_TABLE_NAME), and a backend that can check the data (SageMaker: a source named, a
local dataset that exists, a snapshot on S3) refuses a job it could not train, with 400.
The Job is created through the Jobs application, then handed to the training backend the
factory returns:

- none (the default): the job stays pending, recorded for a training worker;
- a `TrainingLauncher` (asynchronous, e.g. a SageMaker training job): the job is started and
  launched; it ends when the platform's state-change event reaches `queue_export`;
- a `TrainingBackend` (synchronous, e.g. the simulated one): trained here, to the end.

`RECEIPTS_TRAINING_BACKEND` (`Settings.training_backend`) picks the default factory: `none`,
`simulated`, or `package.module:factory` (a callable taking the Runtime and the request).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from receipts.application.ports.training_backend import TrainingBackend, TrainingSpec
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime
from receipts.bootstrap.training import lease_terms, training_backend_for
from receipts.domain.config import JobConfig, split_hyperparameter_map, validation_problems
from receipts.domain.errors import DuplicateJobName, InvalidInput
from receipts.domain.job import JobDraft, Priority
from receipts.entrypoints.lambdas.runtime import current_runtime

log = logging.getLogger("receipts.lambdas")

HyperparameterValue = str | int | float | bool
DATA_SOURCES = ("dataset", "dynamo_table", "dataset_snapshot_load")


@runtime_checkable
class TrainingLauncher(Protocol):
    """Starts training elsewhere and returns at once; the platform reports the end later."""

    name: str

    def launch(self, spec: TrainingSpec) -> str:
        """Submits the job; returns the platform's id for it (an ARN). Raises if refused."""
        ...


@runtime_checkable
class ChecksData(Protocol):
    """A backend that can tell, before a job is recorded, what keeps it from its data."""

    def problems(self, config: JobConfig) -> list[str]:
        """Each reason the job could not train there; empty when it can."""
        ...


class StartTrainingRequest(BaseModel):
    """The seeds' payload (job_name, use_spot, hyperparameters as strings) plus job fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_name: str = Field(min_length=1)
    use_spot: bool = False
    hyperparameters: dict[str, HyperparameterValue] = Field(default_factory=dict)
    description: str = ""
    priority: Priority = "medium"
    created_by: str = "start-training"
    tags: dict[str, str] = Field(default_factory=dict)

    def job_draft(self, default_table: str | None = None) -> JobDraft:
        """The new job; every problem (named as in the payload) at once. A payload naming no
        data source (`dataset`, `dynamo_table`, `dataset_snapshot_load`) trains on
        `default_table` when one is given, as the seed trains on its DYNAMO_TABLE_NAME."""
        split = split_hyperparameter_map(self.hyperparameters)
        data = split.sections["data"]
        if default_table and not any(data.get(source) for source in DATA_SOURCES):
            data["dynamo_table"] = default_table
        problems = [
            f"hyperparameters.{name}: unknown hyperparameter (got {self.hyperparameters[name]!r})"
            for name in split.unknown
        ]
        fields: dict[str, Any] = {
            "name": self.job_name,
            "description": self.description,
            "priority": self.priority,
            "created_by": self.created_by,
            "config": split.sections,
            "tags": self.tags,
        }
        try:
            draft = JobDraft.model_validate(fields)
        except ValidationError as error:
            problems += [_payload_path(problem) for problem in validation_problems(error)]
        if problems:
            raise InvalidInput("start-training payload", problems)
        return draft


BackendFactory = Callable[
    [Runtime, StartTrainingRequest], TrainingBackend | TrainingLauncher | None
]
RuntimeProvider = Callable[[], Runtime]


def parse_request(event: object) -> StartTrainingRequest:
    """The payload, directly or as a JSON `body` (a function URL or API Gateway proxy)."""
    proxied = isinstance(event, Mapping) and "job_name" not in event
    if proxied and isinstance(event, Mapping) and isinstance(event.get("body"), str):
        try:
            event = json.loads(event["body"])
        except json.JSONDecodeError as error:
            raise InvalidInput("start-training payload", [f"body: not JSON: {error}"]) from None
    if not isinstance(event, Mapping):
        raise InvalidInput("start-training payload", ["expected a JSON object"])
    try:
        return StartTrainingRequest.model_validate(event)
    except ValidationError as error:
        raise InvalidInput("start-training payload", validation_problems(error)) from None


def start_training(
    event: object, runtime: Runtime, backend_factory: BackendFactory | None = None
) -> dict[str, Any]:
    """Records and starts one job; returns {statusCode, body} (400/409 record nothing). In
    aws mode a payload naming no data source trains on the configured table
    (`Settings.table`, the seeds' DYNAMO_TABLE_NAME); a job the backend could not train
    (`ChecksData`) is refused before anything is recorded or launched."""
    try:
        request = parse_request(event)
        aws = runtime.settings.mode == "aws"
        draft = request.job_draft(default_table=runtime.settings.table if aws else None)
        backend = backend_factory(runtime, request) if backend_factory else None
        if isinstance(backend, ChecksData) and (problems := backend.problems(draft.config)):
            raise InvalidInput("start-training payload", problems)
        job_id = runtime.jobs.create_job(draft)
    except InvalidInput as error:
        log.warning("start-training refused: %s", "; ".join(error.problems))
        return _response(400, error="invalid payload", problems=error.problems)
    except DuplicateJobName as error:
        return _response(409, error=str(error), job_name=error.name)
    jobs = runtime.jobs
    body: dict[str, Any] = {"job_id": str(job_id), "job_name": request.job_name}
    if backend is None:
        log.info("job %s recorded (pending) for a training worker", request.job_name)
        return _response(201, **body, status="pending", backend=None)
    if isinstance(backend, TrainingLauncher):
        job = jobs.get_job(job_id)
        spec = TrainingSpec(job_id=job_id, job_name=job.name, config=job.config)
        jobs.start_job(job_id)
        try:
            external_id = backend.launch(spec)
        except Exception as error:
            reason = f"launch on {backend.name} failed: {type(error).__name__}: {error}"
            jobs.fail_job(job_id, reason)
            log.error("start-training: job %s %s", request.job_name, reason)
            return _response(502, **body, status="failed", backend=backend.name, error=reason)
        log.info("job %s launched on %s as %s", request.job_name, backend.name, external_id)
        return _response(
            201, **body, status="running", backend=backend.name, training_job_arn=external_id
        )
    status = run_training(jobs, job_id, backend, lease=lease_terms(runtime.settings))
    job = jobs.get_job(job_id)
    results = job.results.model_dump(mode="json") if job.results else None
    return _response(
        201,
        **body,
        status=status.value,
        backend=backend.name,
        reason=job.status_reason,
        results=results,
    )


def make_handler(
    runtime: RuntimeProvider = current_runtime,
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        current = runtime()
        return start_training(
            event, current, training_backend_for(current.settings.training_backend)
        )

    return handle


def _payload_path(problem: str) -> str:
    """Names a job field as the payload does: `config.data.merge_amounts` → `hyperparameters.…`."""
    if problem.startswith("name:"):
        return "job_name:" + problem.removeprefix("name:")
    for section in ("config.hyperparameters", "config.data", "config.model"):
        if problem.startswith(section):
            return "hyperparameters" + problem.removeprefix(section)
    return problem


def _response(status_code: int, **body: Any) -> dict[str, Any]:
    return {"statusCode": status_code, "body": body}


handler = make_handler()
