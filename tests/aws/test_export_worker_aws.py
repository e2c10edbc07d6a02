"""The export worker in aws mode on the moto server: DynamoDB events, SQS queues with
their DLQs, S3 artifacts, all made by `bootstrap(create_resources=True)` under unique names.

A job succeeds → ExportJob requested → the seeds' message on SQS → the worker exports →
the bundle is on S3 → ExportJob succeeded → the result message is on the results queue.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from tests.conftest import aws_mode_settings

from receipts.adapters.archives import SafeTarExtractor
from receipts.adapters.aws_clients import client
from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.adapters.simulated.training_backend import SimulatedTrainingBackend
from receipts.adapters.sqs.queue import SQSQueue
from receipts.application.export.export_worker import ExportWorker
from receipts.application.ports.exporter import BundleReport
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.job import JobDraft, JobResults, JobStatus
from receipts.domain.quantization import Quantization

MAX_RECEIVES = 2


@pytest.fixture
def runtime(aws_env: dict[str, str], unique_name: str) -> Iterator[Runtime]:
    settings = aws_mode_settings(unique_name, max_receive_count=MAX_RECEIVES)
    runtime = bootstrap(settings)
    yield runtime
    runtime.close()


def worker(runtime: Runtime, **options: Any) -> ExportWorker:
    options.setdefault("exporter", SimulatedExporter())
    return ExportWorker(
        exports=runtime.exports,
        jobs_queue=runtime.queues.export_jobs,
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        extractor=SafeTarExtractor(),
        **options,
    )


def succeed(runtime: Runtime, name: str, **tags: str) -> UUID:
    job_id = runtime.jobs.create_job(
        JobDraft(
            name=name,
            config={"hyperparameters": {"epochs": 2, "early_stopping_patience": 0}},
            tags=tags,
        )
    )
    backend = SimulatedTrainingBackend(runtime.artifacts, runtime.runs_prefix())
    assert run_training(runtime.jobs, job_id, backend) is JobStatus.SUCCEEDED
    return job_id


def keys_under(uri: str) -> set[str]:
    parsed = ArtifactURI.parse(uri)
    listed = client("s3").list_objects_v2(Bucket=parsed.bucket, Prefix=parsed.key)
    return {item["Key"].removeprefix(parsed.key) for item in listed.get("Contents", [])}


def results(runtime: Runtime) -> list[dict[str, Any]]:
    messages = runtime.queues.export_results.receive(max_messages=10)
    for message in messages:
        runtime.queues.export_results.delete(message.receipt_handle)
    return [json.loads(message.body) for message in messages]


def tar_gz(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def send_request(runtime: Runtime, model_uri: str) -> UUID:
    export_id = uuid4()
    runtime.queues.export_jobs.send(
        json.dumps(
            {
                "export_id": str(export_id),
                "job_id": "layoutlm-sagemaker",
                "model_s3_uri": model_uri,
                "quantize": "int8",
                "output_s3_prefix": runtime.artifacts_uri("coreml/layoutlm-sagemaker/"),
            }
        )
    )
    return export_id


def test_a_succeeded_job_is_exported_from_sqs_to_s3_and_reported(runtime: Runtime) -> None:
    name = f"layoutlm-{uuid4().hex[:8]}"
    job_id = succeed(runtime, name)
    export_id = ExportJob.auto_id_for(job_id)
    assert runtime.exports.get_export(export_id).status is ExportStatus.QUEUED
    assert runtime.queues.export_jobs.approximate_count() == 1

    assert worker(runtime).serve(continuous=True, until_empty=True) == ["exported"]

    events = [type(e).__name__ for e in runtime.exports.repository.event_store.get(export_id)]
    assert events == ["Requested", "Started", "Succeeded"]
    export = runtime.exports.get_export(export_id)
    assert export.outcome is not None
    bundle = export.outcome.bundle_uri
    assert bundle == f"s3://{runtime.settings.bucket}/runs/{name}/coreml/float16/"
    assert keys_under(bundle) == {"config.json", "label_map.json", "manifest.json"}
    [result] = results(runtime)
    assert result["export_id"] == str(export_id)
    assert (result["job_id"], result["job_uuid"]) == (name, str(job_id))
    assert (result["status"], result["bundle_uri"]) == ("succeeded", bundle)
    assert runtime.queues.export_jobs.approximate_count() == 0


def test_a_job_tagged_skip_sends_the_worker_nothing(runtime: Runtime) -> None:
    job_id = succeed(runtime, f"layoutlm-{uuid4().hex[:8]}", **{"skip-coreml-export": "true"})

    assert worker(runtime).serve(continuous=True, until_empty=True) == []

    assert runtime.exports.auto_export_of(job_id) is None
    assert runtime.queues.export_jobs.approximate_count() == 0
    assert results(runtime) == []


def test_sagemaker_model_archives_on_s3_are_unpacked_or_refused(runtime: Runtime) -> None:
    good = runtime.artifacts_uri("output/layoutlm-sm/output/model.tar.gz")
    runtime.artifacts.put_bytes(
        good, tar_gz(("config.json", b'{"id2label": {"0": "O"}}'), ("model.safetensors", b"w"))
    )
    evil = runtime.artifacts_uri("output/layoutlm-evil/output/model.tar.gz")
    runtime.artifacts.put_bytes(evil, tar_gz(("config.json", b"{}"), ("../../x", b"owned")))
    exported, refused = send_request(runtime, good), send_request(runtime, evil)

    assert worker(runtime).drain() == ["exported", "failed"]

    export = runtime.exports.get_export(exported)
    assert export.outcome is not None
    assert export.outcome.bundle_uri.endswith("/coreml/layoutlm-sagemaker/int8/")
    assert "manifest.json" in keys_under(export.outcome.bundle_uri)
    error = runtime.exports.get_export(refused).error
    assert error is not None and error.startswith("ArchiveRefused:") and "outside" in error
    assert sorted(r["status"] for r in results(runtime)) == ["failed", "succeeded"]


def test_poison_reaches_the_dlq_after_the_redrive_count_while_serving_goes_on(
    runtime: Runtime,
) -> None:
    runtime.queues.export_jobs.send("{not json")
    job_id = succeed(runtime, f"layoutlm-{uuid4().hex[:8]}")

    handled = worker(runtime, visibility_timeout=0).serve(continuous=True, until_empty=True)

    assert handled.count("poison") == MAX_RECEIVES
    assert handled.count("exported") == 1
    assert runtime.exports.get_export(ExportJob.auto_id_for(job_id)).status is (
        ExportStatus.SUCCEEDED
    )
    dead = runtime.queues.dead_letters[runtime.queues.export_jobs.name]
    assert [m.body for m in dead.receive(max_messages=10)] == ["{not json"]
    assert runtime.queues.export_jobs.approximate_count() == 0


class BlockingExporter(SimulatedExporter):
    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        self.started.set()
        self.release.wait(30)
        return super().export(checkpoint_dir, bundle_dir, quantization)


def test_the_heartbeat_keeps_an_sqs_message_hidden_through_a_long_export(
    runtime: Runtime,
) -> None:
    job_id = succeed(runtime, f"layoutlm-{uuid4().hex[:8]}")
    exporter = BlockingExporter()
    slow = worker(runtime, exporter=exporter, visibility_timeout=1, heartbeat_every=0.3)
    thread = threading.Thread(target=slow.drain)
    thread.start()
    assert exporter.started.wait(30)
    other = SQSQueue.by_name(runtime.queues.export_jobs.name)

    stolen = []
    for _ in range(5):  # 2.5 s of export: 2.5 visibility timeouts
        time.sleep(0.5)
        stolen += other.receive(visibility_timeout=0)
    exporter.release.set()
    thread.join(30)

    assert stolen == []
    export = runtime.exports.get_export(ExportJob.auto_id_for(job_id))
    assert (export.status, export.attempts) == (ExportStatus.SUCCEEDED, 1)
    assert runtime.queues.export_jobs.approximate_count() == 0


def test_a_tiny_layoutlm_archive_on_s3_becomes_a_coreml_bundle_on_s3(
    runtime: Runtime, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("coremltools")
    coreml = pytest.importorskip("receipts.adapters.coreml.exporter")
    from tests.ml.tiny_checkpoint import tiny_model_archive

    name = f"layoutlm-{uuid4().hex[:8]}"
    archive = runtime.artifacts_uri(f"output/{name}/output/model.tar.gz")
    runtime.artifacts.put_bytes(archive, tiny_model_archive(tmp_path))
    job_id = runtime.jobs.create_job(JobDraft(name=name))
    runtime.jobs.start_job(job_id)
    runtime.jobs.succeed_job(
        job_id, JobResults(best_checkpoint_uri=archive, best_f1=0.5, best_epoch=1, epochs_run=1)
    )

    exporter = coreml.CoreMLExporter(validate_f1=False)
    assert worker(runtime, exporter=exporter).serve(continuous=True, until_empty=True) == [
        "exported"
    ]

    export = runtime.exports.get_export(ExportJob.auto_id_for(job_id))
    assert export.outcome is not None
    bundle = export.outcome.bundle_uri
    assert bundle == f"s3://{runtime.settings.bucket}/output/{name}/output/coreml/float16/"
    stored = keys_under(bundle)
    assert {"LayoutLM.mlpackage/Manifest.json", "vocab.txt", "manifest.json"} <= stored
    [result] = results(runtime)
    assert (result["status"], result["bundle_uri"]) == ("succeeded", bundle)
