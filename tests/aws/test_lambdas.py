"""The Lambda handlers: start-training, queue_export, the SQS partial-batch shape and the
results consumers. Their logic runs on a memory Runtime (fast); the cached aws Runtime and
its errors for a missing table, queue or bucket run against the moto server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from tests.aws.lambda_support import completed, sqs_event, state_change

from receipts.adapters.dynamodb.event_store import TableMissing
from receipts.adapters.s3.artifact_store import BucketMissing
from receipts.adapters.sqs.queue import QueueMissing
from receipts.application.ports.queue import MessageQueue
from receipts.application.ports.training_backend import TrainingSpec
from receipts.application.training.jobs import Jobs
from receipts.bootstrap import Runtime, bootstrap, event_store_env, training
from receipts.bootstrap.training import training_backend_for
from receipts.domain.errors import InvalidInput
from receipts.domain.export_job import ExportJob, ExportRequest, ExportStatus
from receipts.domain.job import JobDraft, JobResults, JobStatus
from receipts.domain.job_metric import Evaluation
from receipts.domain.ocr_job import OCRStatus
from receipts.entrypoints.lambdas import export_results, ocr_results, queue_export, start_training
from receipts.entrypoints.lambdas.runtime import current_runtime
from receipts.entrypoints.lambdas.sqs_batch import SQSRecord, process_batch
from receipts.entrypoints.lambdas.start_training import StartTrainingRequest
from receipts.settings import Settings

SEED_PAYLOAD: dict[str, Any] = {
    "job_name": "layoutlm-my-experiment",
    "use_spot": False,
    "hyperparameters": {
        "epochs": "10",
        "batch_size": "8",
        "learning_rate": "5e-5",
        "warmup_ratio": "0.1",
        "early_stopping_patience": "2",
        "merge_amounts": "true",
    },
}
SEED_KEYS = {"export_id", "job_id", "model_s3_uri", "quantize", "output_s3_prefix"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    yield runtime
    runtime.close()


def drain(queue: MessageQueue) -> list[dict[str, Any]]:
    bodies = []
    while messages := queue.receive(max_messages=10):
        for message in messages:
            bodies.append(json.loads(message.body))
            queue.delete(message.receipt_handle)
    return bodies


def running_job(runtime: Runtime, name: str, tags: dict[str, str] | None = None) -> UUID:
    job_id = runtime.jobs.create_job(JobDraft(name=name, tags=tags or {}))
    runtime.jobs.start_job(job_id)
    return job_id


def evaluation(epoch: int, f1: float) -> Evaluation:
    return Evaluation(epoch=epoch, global_step=epoch * 10, f1=f1, precision=f1, recall=f1)


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


# --- start-training -------------------------------------------------------------------


def test_the_seeds_payload_records_a_pending_job_with_its_hyperparameters(
    runtime: Runtime,
) -> None:
    response = start_training.start_training(SEED_PAYLOAD, runtime)

    assert response["statusCode"] == 201
    body = response["body"]
    job = runtime.jobs.get_job_by_name("layoutlm-my-experiment")
    assert body == {
        "job_id": str(job.id),
        "job_name": "layoutlm-my-experiment",
        "status": "pending",
        "backend": None,
    }
    hp = job.config.hyperparameters
    assert (hp.epochs, hp.batch_size, hp.learning_rate, hp.warmup_ratio) == (10, 8, 5e-5, 0.1)
    assert hp.early_stopping_patience == 2
    assert job.config.data.merge_amounts is True
    assert job.status is JobStatus.PENDING


def test_list_and_model_hyperparameters_reach_their_config_sections(runtime: Runtime) -> None:
    payload = {
        "job_name": "layoutlm-labels",
        "hyperparameters": {
            "merge_amounts": True,
            "allowed_labels": "AMOUNT, DATE",
            "model_size": "tiny",
            "max_seq_length": 128,
            "stride": 32,
        },
        "tags": {"skip-coreml-export": "true"},
    }
    assert start_training.start_training(payload, runtime)["statusCode"] == 201

    job = runtime.jobs.get_job_by_name("layoutlm-labels")
    assert job.config.data.allowed_labels == ("AMOUNT", "DATE")
    assert (job.config.model.model_size, job.config.model.max_seq_length) == ("tiny", 128)
    assert job.skips_export


def test_a_bad_payload_names_every_bad_field_and_records_nothing(runtime: Runtime) -> None:
    payload = {
        "job_name": "bad name!",
        "use_spot": "maybe",
        "hyperparameters": {"epochs": "ten", "merge_amounts": "perhaps", "dropout": "0.1"},
        "colour": "blue",
    }
    response = start_training.start_training(payload, runtime)

    assert response["statusCode"] == 400
    problems = response["body"]["problems"]
    assert {problem.split(":")[0] for problem in problems} == {"use_spot", "colour"}
    # the job fields are checked once the payload's own shape is right
    payload = {k: v for k, v in payload.items() if k not in ("use_spot", "colour")}
    problems = start_training.start_training(payload, runtime)["body"]["problems"]
    assert {problem.split(":")[0] for problem in problems} == {
        "job_name",
        "hyperparameters.epochs",
        "hyperparameters.merge_amounts",
        "hyperparameters.dropout",
    }
    assert any("unknown hyperparameter" in problem for problem in problems)
    assert runtime.jobs.recorder.max_notification_id() is None


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ([1, 2], "expected a JSON object"),
        ({"body": "{not json"}, "body: not JSON"),
        ({}, "job_name: Field required"),
    ],
)
def test_a_payload_that_is_not_a_job_is_refused(
    runtime: Runtime, event: object, problem: str
) -> None:
    response = start_training.start_training(event, runtime)

    assert response["statusCode"] == 400
    assert any(p.startswith(problem) for p in response["body"]["problems"])


def test_a_proxied_json_body_is_read(runtime: Runtime) -> None:
    response = start_training.start_training({"body": json.dumps(SEED_PAYLOAD)}, runtime)

    assert response["statusCode"] == 201
    assert (
        runtime.jobs.get_job_by_name("layoutlm-my-experiment").config.hyperparameters.epochs == 10
    )


def test_a_taken_job_name_is_a_conflict(runtime: Runtime) -> None:
    start_training.start_training(SEED_PAYLOAD, runtime)

    response = start_training.start_training(SEED_PAYLOAD, runtime)

    assert response["statusCode"] == 409
    assert "layoutlm-my-experiment" in response["body"]["error"]


class FakeLauncher:
    name = "fake-platform"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.launched: list[TrainingSpec] = []

    def launch(self, spec: TrainingSpec) -> str:
        if self.fail:
            raise RuntimeError("ResourceLimitExceeded: no ml.g5.xlarge capacity")
        self.launched.append(spec)
        return f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{spec.job_name}"


def test_a_launcher_starts_the_job_elsewhere_and_leaves_it_running(runtime: Runtime) -> None:
    launcher = FakeLauncher()
    requests: list[StartTrainingRequest] = []

    def factory(_: Runtime, request: StartTrainingRequest) -> FakeLauncher:
        requests.append(request)
        return launcher

    response = start_training.start_training({**SEED_PAYLOAD, "use_spot": True}, runtime, factory)

    job = runtime.jobs.get_job_by_name("layoutlm-my-experiment")
    assert response["statusCode"] == 201
    assert response["body"]["status"] == "running"
    assert response["body"]["training_job_arn"].endswith("training-job/layoutlm-my-experiment")
    assert job.status is JobStatus.RUNNING
    assert [(s.job_id, s.config) for s in launcher.launched] == [(job.id, job.config)]
    assert requests[0].use_spot is True


def test_a_refused_launch_fails_the_job_with_the_reason(runtime: Runtime) -> None:
    response = start_training.start_training(
        SEED_PAYLOAD, runtime, lambda _, __: FakeLauncher(fail=True)
    )

    job = runtime.jobs.get_job_by_name("layoutlm-my-experiment")
    assert response["statusCode"] == 502
    assert job.status is JobStatus.FAILED
    assert job.status_reason is not None
    assert "ResourceLimitExceeded" in job.status_reason
    assert response["body"]["error"] == job.status_reason


def test_the_simulated_backend_trains_in_the_handler_and_the_export_is_queued(
    tmp_path: Path,
) -> None:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path, training_backend="simulated"))
    handler = start_training.make_handler(lambda: runtime)
    payload = {"job_name": "layoutlm-sim", "hyperparameters": {"epochs": "2"}}

    try:
        response = handler(payload, None)
        [message] = drain(runtime.queues.export_jobs)
    finally:
        runtime.close()

    assert response["body"]["status"] == "succeeded"
    assert response["body"]["results"]["best_checkpoint_uri"].endswith("/runs/layoutlm-sim/best/")
    assert message["model_s3_uri"] == response["body"]["results"]["best_checkpoint_uri"]


def test_the_backend_variable_names_a_factory_or_is_refused() -> None:
    assert training_backend_for("none") is None
    assert training_backend_for("") is None
    assert training_backend_for("simulated") is training.simulated_backend
    named = "receipts.bootstrap.training:simulated_backend"
    assert training_backend_for(named) is training.simulated_backend
    for bad in ("sagemaker", "receipts.nowhere:factory", "receipts.settings:NOPE"):
        with pytest.raises(ValueError, match="RECEIPTS_TRAINING_BACKEND"):
            training_backend_for(bad)


# --- queue_export -----------------------------------------------------------------------


def test_completed_succeeds_the_job_and_the_export_message_is_queued(runtime: Runtime) -> None:
    job_id = running_job(runtime, "layoutlm-a")
    runtime.jobs.record_evaluation(job_id, evaluation(1, 0.41))
    runtime.jobs.record_evaluation(job_id, evaluation(2, 0.63))
    runtime.jobs.record_evaluation(job_id, evaluation(3, 0.58))
    model_uri = "memory://receipts/runs/layoutlm-a/best/"

    result = queue_export.queue_export(completed("layoutlm-a", model_uri), runtime)

    job = runtime.jobs.get_job(job_id)
    export_id = ExportJob.auto_id_for(job_id)
    assert result == {
        "outcome": "succeeded",
        "job_id": str(job_id),
        "job_name": "layoutlm-a",
        "status": "succeeded",
        "export_id": str(export_id),
    }
    assert job.results is not None
    assert job.results.best_checkpoint_uri == model_uri
    assert (job.results.best_f1, job.results.best_epoch, job.results.epochs_run) == (0.63, 2, 3)
    [message] = drain(runtime.queues.export_jobs)
    assert set(message) >= SEED_KEYS
    assert message["export_id"] == str(export_id)
    assert message["model_s3_uri"] == model_uri
    assert message["quantize"] == "float16"
    assert message["output_s3_prefix"] == "memory://receipts/runs/layoutlm-a/coreml/"


def test_a_repeated_event_changes_nothing_and_sends_nothing_more(runtime: Runtime) -> None:
    running_job(runtime, "layoutlm-b")
    event = completed("layoutlm-b", "memory://receipts/runs/layoutlm-b/best/")
    queue_export.queue_export(event, runtime)

    again = queue_export.queue_export(event, runtime)
    failed_later = queue_export.queue_export(state_change("layoutlm-b", "Failed"), runtime)

    assert again["outcome"] == failed_later["outcome"] == "unchanged"
    assert failed_later["status"] == "succeeded"
    assert len(drain(runtime.queues.export_jobs)) == 1


def test_the_skip_tag_succeeds_the_job_without_an_export(runtime: Runtime) -> None:
    job_id = running_job(runtime, "layoutlm-c", tags={"skip-coreml-export": "true"})

    result = queue_export.queue_export(
        completed("layoutlm-c", "memory://receipts/runs/layoutlm-c/best/"), runtime
    )

    assert runtime.jobs.get_job(job_id).status is JobStatus.SUCCEEDED
    assert result["export_id"] is None
    assert result["export_skipped"] == "tagged skip-coreml-export"
    assert drain(runtime.queues.export_jobs) == []


def test_the_quantize_tag_picks_the_export_quantization(runtime: Runtime) -> None:
    running_job(runtime, "layoutlm-d", tags={"coreml-quantize": "int8"})

    queue_export.queue_export(completed("layoutlm-d", "memory://receipts/d/best/"), runtime)

    [message] = drain(runtime.queues.export_jobs)
    assert message["quantize"] == "int8"


def test_the_results_the_run_left_win_over_the_model_archive(runtime: Runtime) -> None:
    job_id = running_job(runtime, "layoutlm-r")
    runtime.jobs.record_evaluation(job_id, evaluation(1, 0.2))
    left = JobResults(
        best_checkpoint_uri="memory://receipts/runs/layoutlm-r/best/",
        best_f1=0.81,
        best_epoch=4,
        epochs_run=5,
    )
    runtime.artifacts.put_bytes(
        "memory://receipts/runs/layoutlm-r/results.json", left.model_dump_json().encode()
    )
    archive = "s3://bucket/output/layoutlm-r/output/model.tar.gz"

    queue_export.queue_export(completed("layoutlm-r", archive), runtime)

    assert runtime.jobs.get_job(job_id).results == left
    [message] = drain(runtime.queues.export_jobs)
    assert message["model_s3_uri"] == left.best_checkpoint_uri


def test_unreadable_run_results_are_named(runtime: Runtime) -> None:
    job_id = running_job(runtime, "layoutlm-s")
    uri = "memory://receipts/runs/layoutlm-s/results.json"
    runtime.artifacts.put_bytes(uri, b'{"best_f1": 7}')

    with pytest.raises(InvalidInput, match=f"invalid run results {uri}: best_checkpoint_uri"):
        queue_export.queue_export(completed("layoutlm-s", "s3://bucket/model/"), runtime)
    assert runtime.jobs.get_job(job_id).status is JobStatus.RUNNING


def test_a_model_archive_without_run_results_is_exported_from_the_archive(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    running_job(runtime, "layoutlm-t")
    archive = "s3://bucket/output/layoutlm-t/output/model.tar.gz"

    with caplog.at_level(logging.INFO, logger="receipts.lambdas"):
        queue_export.queue_export(completed("layoutlm-t", archive), runtime)

    # the worker unpacks model.tar.gz: nothing to warn about, and no claim that it cannot
    assert "checkpoint prefix" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"the model archive {archive} (the export worker unpacks it)" in caplog.text
    [message] = drain(runtime.queues.export_jobs)
    assert message["model_s3_uri"] == archive


def test_a_pending_job_completed_elsewhere_is_started_and_succeeded(runtime: Runtime) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name="layoutlm-e"))

    result = queue_export.queue_export(
        completed(
            "layoutlm-e",
            "memory://receipts/e/best/",
            FinalMetricDataList=[
                {"MetricName": "train:loss", "Value": 0.2},
                {"MetricName": "validation:f1", "Value": 0.77},
            ],
        ),
        runtime,
    )

    job = runtime.jobs.get_job(job_id)
    assert result["outcome"] == "succeeded"
    assert job.results is not None
    assert job.results.best_f1 == 0.77
    assert job.attempts == 1


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [
        ("Failed", JobStatus.FAILED, "AlgorithmError: CUDA out of memory"),
        ("Stopped", JobStatus.CANCELLED, "stopped by the user"),
    ],
)
def test_failed_and_stopped_end_the_job_with_the_reason(
    runtime: Runtime, status: str, expected: JobStatus, reason: str
) -> None:
    job_id = running_job(runtime, "layoutlm-f")

    result = queue_export.queue_export(
        state_change("layoutlm-f", status, FailureReason=reason), runtime
    )

    job = runtime.jobs.get_job(job_id)
    assert (result["outcome"], job.status, job.status_reason) == (
        expected.value,
        expected,
        reason,
    )
    assert drain(runtime.queues.export_jobs) == []


def test_in_progress_starts_a_pending_job_only(runtime: Runtime) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name="layoutlm-g"))

    first = queue_export.queue_export(state_change("layoutlm-g", "InProgress"), runtime)
    second = queue_export.queue_export(state_change("layoutlm-g", "InProgress"), runtime)

    assert (first["outcome"], second["outcome"]) == ("started", "ignored")
    assert runtime.jobs.get_job(job_id).status is JobStatus.RUNNING


def test_an_unknown_job_name_is_logged_and_ignored(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="receipts.lambdas"):
        result = queue_export.queue_export(
            completed("layoutlm-nobody", "s3://bucket/runs/x/best/"), runtime
        )

    assert result == {"outcome": "unknown_job", "job_name": "layoutlm-nobody"}
    assert "no job named 'layoutlm-nobody'" in caplog.text
    assert drain(runtime.queues.export_jobs) == []


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ("not an event", "expected a JSON object"),
        (
            {**completed("x", "s3://bucket/k/"), "detail-type": "EC2 Instance State-change"},
            "detail-type",
        ),
        ({**completed("x", "s3://bucket/k/"), "source": "aws.ec2"}, "source"),
        (state_change("x", "Exploded"), "detail.TrainingJobStatus"),
        ({k: v for k, v in completed("x", "s3://bucket/k/").items() if k != "detail"}, "detail"),
        (state_change("x", "Completed"), "ModelArtifacts"),
        (completed("x", "s3://bucket/../etc/"), "detail.ModelArtifacts.S3ModelArtifacts"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field(
    runtime: Runtime, event: object, problem: str
) -> None:
    with pytest.raises(InvalidInput, match="invalid EventBridge event") as raised:
        queue_export.queue_export(event, runtime)

    assert any(problem in line for line in raised.value.problems), raised.value.problems


def test_a_missing_job_name_is_refused(runtime: Runtime) -> None:
    event = state_change("x", "Failed")
    del event["detail"]["TrainingJobName"]

    with pytest.raises(InvalidInput, match=r"detail\.TrainingJobName: Field required"):
        queue_export.queue_export(event, runtime)


# --- SQS partial batch failures ---------------------------------------------------------


def test_only_the_records_that_raise_are_reported() -> None:
    handled: list[str] = []

    def handle(record: SQSRecord) -> None:
        data = json.loads(record.body)
        if "boom" in data:
            raise RuntimeError("transient")
        handled.append(data["n"])

    response = process_batch(
        sqs_event('{"n": "a"}', "{not json", '{"boom": 1}', '{"n": "d"}'), handle
    )

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert handled == ["a", "d"]


def test_a_fifo_group_stops_at_its_first_failure() -> None:
    handled: list[str] = []

    def handle(record: SQSRecord) -> None:
        if record.body == "bad":
            raise ValueError("bad")
        handled.append(record.body)

    response = process_batch(sqs_event("ok", "bad", "after", group="g1"), handle)

    assert failed_ids(dict(response)) == ["m1", "m2"]
    assert handled == ["ok"]


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"detail": {}}, "Records: expected a list"),
        ({"Records": [{"body": "x"}]}, "Records.0.messageId: Field required"),
    ],
)
def test_an_event_that_is_not_an_sqs_batch_is_refused(event: object, problem: str) -> None:
    with pytest.raises(InvalidInput, match="invalid SQS event") as raised:
        process_batch(event, lambda record: None)

    assert any(line.startswith(problem) for line in raised.value.problems)


# --- export results ---------------------------------------------------------------------


def queued_export(runtime: Runtime) -> UUID:
    return runtime.exports.request_export(
        ExportRequest(
            source_job_name="layoutlm-x",
            checkpoint_uri="memory://receipts/runs/layoutlm-x/best/",
            output_prefix="memory://receipts/runs/layoutlm-x/coreml/",
        )
    )


def result_body(export_id: UUID, status: str, **fields: Any) -> str:
    return json.dumps(
        {"export_id": str(export_id), "job_id": "layoutlm-x", "status": status, **fields}
    )


def test_export_results_record_each_outcome_and_report_the_bad_ones(runtime: Runtime) -> None:
    done, broken, finished_by_worker = (
        queued_export(runtime),
        queued_export(runtime),
        queued_export(runtime),
    )
    runtime.exports.start_export(finished_by_worker, "mac-1")
    bundle = "memory://receipts/runs/layoutlm-x/coreml/float16/"
    runtime.exports.fail_export(finished_by_worker, "coremltools crashed")
    handler = export_results.make_handler(lambda: runtime)

    response = handler(
        sqs_event(
            result_body(done, "succeeded", bundle_uri=bundle, total_bytes=1234),
            result_body(broken, "failed", error="Torch 2.9 untested"),
            result_body(finished_by_worker, "succeeded", bundle_uri=bundle),
            result_body(uuid4(), "failed"),
            result_body(done, "exploded"),
            "{}",
        ),
        None,
    )

    assert failed_ids(dict(response)) == ["m3", "m4", "m5"]
    succeeded = runtime.exports.get_export(done)
    assert succeeded.status is ExportStatus.SUCCEEDED
    assert succeeded.outcome is not None
    assert (succeeded.outcome.bundle_uri, succeeded.outcome.total_bytes) == (bundle, 1234)
    assert runtime.exports.get_export(broken).error == "Torch 2.9 untested"
    assert runtime.exports.get_export(finished_by_worker).status is ExportStatus.FAILED


def test_a_redelivered_export_result_changes_nothing(runtime: Runtime) -> None:
    export_id = queued_export(runtime)
    body = result_body(export_id, "succeeded", bundle_uri="memory://receipts/b/")
    handler = export_results.make_handler(lambda: runtime)
    handler(sqs_event(body), None)
    version = runtime.exports.get_export(export_id).version

    assert handler(sqs_event(body, result_body(export_id, "running")), None) == {
        "batchItemFailures": []
    }
    assert runtime.exports.get_export(export_id).version == version


def test_a_succeeded_result_needs_its_bundle(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match="bundle_uri: required"):
        export_results.record_export_result(
            runtime.exports, result_body(queued_export(runtime), "succeeded")
        )


# --- OCR results ------------------------------------------------------------------------


def test_ocr_results_complete_or_fail_their_jobs(runtime: Runtime) -> None:
    ocr = runtime.ocr_jobs
    done, broken, bad = (ocr.submit("s3://raw-receipts/a.png") for _ in range(3))
    handler = ocr_results.make_handler(lambda: runtime)
    completed_body = {
        "job_id": str(done),
        "status": "completed",
        "word_count": 87,
        "routing": "auto_accept",
        "result_uris": {"ocr": "s3://receipts/ocr_results/a.json"},
    }

    response = handler(
        sqs_event(
            json.dumps(completed_body),
            json.dumps({"job_id": str(broken), "status": "failed", "error": "Vision: no text"}),
            json.dumps({**completed_body, "job_id": str(bad), "routing": "shrug"}),
        ),
        None,
    )

    assert failed_ids(dict(response)) == ["m2"]
    job = ocr.get_ocr_job(done)
    assert job.status is OCRStatus.COMPLETED
    assert job.outcome is not None
    assert job.outcome.word_count == 87
    assert ocr.get_ocr_job(broken).error == "Vision: no text"
    assert ocr.get_ocr_job(bad).status is OCRStatus.PENDING


# --- the cached aws Runtime: missing resources are named --------------------------------


def test_the_runtime_is_bootstrapped_once_per_container(lambda_env: dict[str, str]) -> None:
    first = current_runtime()
    assert current_runtime() is first
    assert first.settings.mode == "aws"
    assert first.settings.bucket == lambda_env["LAYOUTLM_TRAINING_BUCKET"]


@pytest.mark.parametrize(
    ("variable", "error", "named", "invoke"),
    [
        ("RECEIPTS_EVENTS_TABLE", TableMissing, "DynamoDB table 'missing-", "start"),
        ("COREML_EXPORT_JOB_QUEUE_URL", QueueMissing, "SQS queue 'missing-", "queue_export"),
        ("RECEIPTS_OCR_RESULTS_QUEUE", QueueMissing, "SQS queue 'missing-", "results"),
        ("LAYOUTLM_TRAINING_BUCKET", BucketMissing, "S3 bucket 'missing-", "queue_export"),
    ],
)
def test_a_missing_resource_fails_the_invocation_naming_it(
    lambda_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    error: type[Exception],
    named: str,
    invoke: str,
) -> None:
    monkeypatch.setenv(variable, f"missing-{uuid4().hex[:8]}")

    with pytest.raises(error, match=named):
        if invoke == "start":
            start_training.handler(SEED_PAYLOAD, None)
        elif invoke == "queue_export":
            queue_export.handler(state_change("layoutlm-x", "Failed"), None)
        else:
            export_results.handler(sqs_event("{}"), None)


def test_a_warm_container_relays_an_export_another_process_left_unsent(
    lambda_env: dict[str, str],
) -> None:
    """A training container recorded Job.Succeeded and stopped before any policy ran: the
    next invocation catches up, so the export is requested and its message sent."""
    runtime = current_runtime()
    settings = Settings.from_env()
    jobs_only = Jobs(env=event_store_env(settings))
    job_id = jobs_only.create_job(JobDraft(name="layoutlm-elsewhere"))
    jobs_only.start_job(job_id)
    jobs_only.record_evaluation(job_id, evaluation(1, 0.5))
    model_uri = f"s3://{settings.bucket}/runs/layoutlm-elsewhere/best/"
    jobs_only.succeed_job(
        job_id, JobResults(best_checkpoint_uri=model_uri, best_f1=0.5, best_epoch=1, epochs_run=1)
    )
    jobs_only.close()
    export_id = ExportJob.auto_id_for(job_id)
    assert runtime.exports.auto_export_of(job_id) is None

    result = queue_export.handler(completed("layoutlm-elsewhere", model_uri), None)

    assert current_runtime() is runtime
    assert (result["outcome"], result["export_id"]) == ("unchanged", str(export_id))
    sent = [m for m in drain(runtime.queues.export_jobs) if m["export_id"] == str(export_id)]
    assert [m["model_s3_uri"] for m in sent] == [model_uri]
