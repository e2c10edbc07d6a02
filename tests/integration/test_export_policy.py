"""A succeeded job asks for one CoreML export; the worker exports it once, whatever happens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic
from tests.support import Train, export_worker, results_for

from receipts.application.ports.queue import MessageQueue
from receipts.application.training.jobs import Jobs
from receipts.bootstrap import Runtime, bootstrap, event_store_env
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.job import JobDraft, JobResults
from receipts.domain.quantization import Quantization
from receipts.settings import Settings

SEED_KEYS = {"export_id", "job_id", "model_s3_uri", "quantize", "output_s3_prefix"}


def requested_exports(runtime: Runtime) -> list[UUID | str]:
    notifications = runtime.exports.recorder.select_notifications(
        start=1, limit=1000, topics=[get_topic(ExportJob.Requested)]
    )
    return [n.originator_id for n in notifications]


def peek(queue: MessageQueue) -> list[dict[str, Any]]:
    """The bodies of the visible messages, left visible."""
    messages = queue.receive(max_messages=10)
    for message in messages:
        queue.change_visibility(message.receipt_handle, 0)
    return [json.loads(message.body) for message in messages]


def test_a_succeeded_job_requests_exactly_one_float16_export(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("invoices")

    export = any_runtime.exports.get_export(ExportJob.auto_id_for(job_id))
    job = any_runtime.jobs.get_job(job_id)
    assert requested_exports(any_runtime) == [export.id]
    assert export.status is ExportStatus.QUEUED
    assert job.results is not None
    request = export.request
    assert (request.source_job_id, request.source_job_name) == (job_id, "invoices")
    assert request.checkpoint_uri == job.results.best_checkpoint_uri
    assert request.quantization is Quantization.FLOAT16
    assert request.requested_by == "auto"
    assert request.output_prefix == request.checkpoint_uri.removesuffix("best/") + "coreml/"
    assert request.output_prefix.endswith("/runs/invoices/coreml/")


def test_the_runs_prefix_stays_the_same_once_runs_exist(any_runtime: Runtime, train: Train) -> None:
    before = any_runtime.runs_prefix()

    train("invoices")

    assert any_runtime.runs_prefix() == before
    assert before.endswith("/runs/")
    assert not before.endswith("//")


def test_the_export_message_has_the_seeds_format(any_runtime: Runtime, train: Train) -> None:
    job_id = train("invoices")
    export = any_runtime.exports.get_export(ExportJob.auto_id_for(job_id))

    (body,) = peek(any_runtime.queues.export_jobs)

    assert set(body) >= SEED_KEYS
    assert body["export_id"] == str(export.id)
    assert body["job_id"] == "invoices"  # the seeds: the training job's name
    assert body["job_uuid"] == str(job_id)
    assert body["model_s3_uri"] == export.request.checkpoint_uri
    assert body["quantize"] == "float16"
    assert body["output_s3_prefix"] == export.request.output_prefix
    assert any_runtime.queues.export_jobs.approximate_count() == 1


@pytest.mark.parametrize("value", ["true", "YES", " 1 "])
def test_a_job_tagged_skip_requests_no_export(
    any_runtime: Runtime, train: Train, value: str
) -> None:
    job_id = train("skipped", tags={"skip-coreml-export": value})

    assert any_runtime.exports.auto_export_of(job_id) is None
    assert requested_exports(any_runtime) == []
    assert any_runtime.queues.export_jobs.approximate_count() == 0


def test_a_skip_tag_set_to_false_still_exports(any_runtime: Runtime, train: Train) -> None:
    job_id = train("not-skipped", tags={"skip-coreml-export": "false"})

    assert any_runtime.exports.auto_export_of(job_id) is not None


def test_a_quantization_tag_chooses_int8(any_runtime: Runtime, train: Train) -> None:
    job_id = train("small", tags={"coreml-quantize": "int8"})

    export = any_runtime.exports.auto_export_of(job_id)

    assert export is not None and export.request.quantization is Quantization.INT8
    (body,) = peek(any_runtime.queues.export_jobs)
    assert body["quantize"] == "int8"


@pytest.mark.parametrize("ending", ["fail", "cancel", "interrupt"])
def test_a_job_that_did_not_succeed_requests_no_export(any_runtime: Runtime, ending: str) -> None:
    jobs = any_runtime.jobs
    job_id = jobs.create_job(JobDraft(name="unlucky"))
    jobs.start_job(job_id)

    if ending == "fail":
        jobs.fail_job(job_id, "diverged")
    elif ending == "cancel":
        jobs.cancel_job(job_id)
    else:
        jobs.interrupt_job(job_id, None, "spot reclaimed")

    assert any_runtime.exports.auto_export_of(job_id) is None
    assert requested_exports(any_runtime) == []
    assert any_runtime.queues.export_jobs.approximate_count() == 0


def test_the_worker_exports_the_bundle_and_reports_the_result(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("invoices")
    export_id = ExportJob.auto_id_for(job_id)

    assert export_worker(any_runtime).drain() == ["exported"]

    export = any_runtime.exports.get_export(export_id)
    assert export.status is ExportStatus.SUCCEEDED
    assert export.attempts == 1
    assert export.outcome is not None
    bundle = export.outcome.bundle_uri
    assert bundle == export.request.output_prefix + "float16/"
    stored = [uri.removeprefix(bundle) for uri in any_runtime.artifacts.list(bundle)]
    assert stored == ["config.json", "label_map.json", "manifest.json"]
    manifest = json.loads(any_runtime.artifacts.get_bytes(bundle + "manifest.json"))
    assert manifest["quantization"] == "float16"
    assert export.outcome.total_bytes == sum(export.outcome.file_sizes.values()) > 0
    (result,) = peek(any_runtime.queues.export_results)
    assert (result["export_id"], result["job_id"], result["status"]) == (
        str(export_id),
        "invoices",
        "succeeded",
    )
    assert result["job_uuid"] == str(job_id)
    assert result["bundle_uri"] == bundle
    assert any_runtime.queues.export_jobs.approximate_count() == 0


def test_a_message_delivered_twice_is_exported_once(any_runtime: Runtime, train: Train) -> None:
    job_id = train("invoices")
    export_id = ExportJob.auto_id_for(job_id)
    (body,) = peek(any_runtime.queues.export_jobs)
    worker = export_worker(any_runtime)
    assert worker.drain() == ["exported"]
    version = any_runtime.exports.get_export(export_id).version

    any_runtime.queues.export_jobs.send(json.dumps(body))

    assert worker.drain() == ["resent"]
    export = any_runtime.exports.get_export(export_id)
    assert (export.version, export.attempts) == (version, 1)
    assert [r["status"] for r in peek(any_runtime.queues.export_results)] == [
        "succeeded",
        "succeeded",
    ]
    assert any_runtime.queues.export_jobs.approximate_count() == 0


def test_a_duplicate_of_an_export_in_progress_is_left_alone(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("invoices")
    export_id = ExportJob.auto_id_for(job_id)
    any_runtime.exports.start_export(export_id, "another-worker")

    assert export_worker(any_runtime).drain() == ["duplicate"]

    export = any_runtime.exports.get_export(export_id)
    assert (export.status, export.worker, export.attempts) == (
        ExportStatus.RUNNING,
        "another-worker",
        1,
    )
    assert any_runtime.queues.export_jobs.approximate_count() == 1


def test_a_failed_export_is_recorded_and_reported(any_runtime: Runtime) -> None:
    jobs = any_runtime.jobs
    job_id = jobs.create_job(JobDraft(name="no-checkpoint"))
    jobs.start_job(job_id)
    jobs.succeed_job(job_id, results_for(any_runtime, "no-checkpoint"))

    assert export_worker(any_runtime).drain() == ["failed"]

    export = any_runtime.exports.get_export(ExportJob.auto_id_for(job_id))
    assert export.status is ExportStatus.FAILED
    assert export.error is not None and "no model files under it" in export.error
    (result,) = peek(any_runtime.queues.export_results)
    assert result["status"] == "failed"


def test_a_malformed_message_is_poison_and_is_not_deleted(any_runtime: Runtime) -> None:
    queue = any_runtime.queues.export_jobs
    queue.send("{not json")

    assert export_worker(any_runtime).drain() == ["poison"]

    assert queue.approximate_count() == 1


def test_a_poison_message_ends_in_the_dead_letter_queue(any_runtime: Runtime) -> None:
    settings = any_runtime.settings
    queue = any_runtime.queues.export_jobs
    queue.send("{not json")

    handled = export_worker(any_runtime, visibility_timeout=0.0).drain()

    assert handled == ["poison"] * settings.max_receive_count
    assert queue.approximate_count() == 0
    dead = any_runtime.queues.dead_letters[settings.export_queue].receive(max_messages=10)
    assert [m.body for m in dead] == ["{not json"]


def test_a_job_succeeded_in_another_process_is_exported_once_after_catch_up(
    tmp_path: Path,
) -> None:
    settings = Settings(mode="local", home=tmp_path)
    checkpoint = f"file://{settings.artifacts_dir}/runs/elsewhere/best/"
    results = JobResults(best_checkpoint_uri=checkpoint, best_f1=0.9, best_epoch=1, epochs_run=1)
    trainer = Jobs(env=event_store_env(settings))
    job_id = trainer.create_job(JobDraft(name="elsewhere"))
    trainer.start_job(job_id)
    trainer.succeed_job(job_id, results)
    trainer.close()

    first = bootstrap(settings)
    try:
        export = first.exports.auto_export_of(job_id)
        assert export is not None and export.status is ExportStatus.QUEUED
        assert export.request.checkpoint_uri == checkpoint
        assert export.request.output_prefix == checkpoint.removesuffix("best/") + "coreml/"
        assert first.queues.export_jobs.approximate_count() == 1
    finally:
        first.close()

    second = bootstrap(settings)
    try:
        assert second.queues.export_jobs.approximate_count() == 1
        assert requested_exports(second) == [ExportJob.auto_id_for(job_id)]
        (body,) = peek(second.queues.export_jobs)
        assert (body["job_id"], body["job_uuid"]) == ("elsewhere", str(job_id))
    finally:
        second.close()


def test_a_runtime_that_is_already_running_catches_up_on_demand(tmp_path: Path) -> None:
    settings = Settings(mode="local", home=tmp_path)
    runtime = bootstrap(settings)
    try:
        trainer = Jobs(env=event_store_env(settings))
        job_id = trainer.create_job(JobDraft(name="meanwhile"))
        trainer.start_job(job_id)
        trainer.succeed_job(job_id, results_for(runtime, "meanwhile"))
        trainer.close()
        assert runtime.exports.auto_export_of(job_id) is None

        runtime.catch_up()
        runtime.catch_up()

        assert runtime.exports.auto_export_of(job_id) is not None
        assert runtime.queues.export_jobs.approximate_count() == 1
    finally:
        runtime.close()
