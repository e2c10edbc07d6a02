"""The export worker with the real exporters on a tiny LayoutLM: a job whose best checkpoint
is SageMaker's `model.tar.gz` succeeds → the policy requests the export → the queue → the
worker unpacks, converts (CoreML, ONNX), stores the bundle and reports it."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from tests.ml.tiny_checkpoint import TAGS, tiny_model_archive

from receipts.adapters.archives import SafeTarExtractor
from receipts.application.export.export_worker import ExportWorker
from receipts.application.ports.exporter import Exporter
from receipts.bootstrap import Runtime
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.job import JobDraft, JobResults

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return tiny_model_archive(tmp_path_factory.mktemp("model"))


def coreml_exporter() -> Exporter:
    pytest.importorskip("coremltools")
    module = pytest.importorskip("receipts.adapters.coreml.exporter")
    exporter: Exporter = module.CoreMLExporter(validate_f1=False)
    return exporter


def onnx_exporter() -> Exporter:
    pytest.importorskip("onnxruntime")
    from receipts.adapters.onnx.exporter import ONNXExporter

    return ONNXExporter(parity_lengths=(16,), batch_sizes=(1,))


EXPORTERS: dict[str, Any] = {"coreml": coreml_exporter, "onnx": onnx_exporter}
MODEL_FILES = {"coreml": "LayoutLM.mlpackage/Manifest.json", "onnx": "LayoutLM.onnx"}


@pytest.mark.parametrize("kind", ["coreml", "onnx"])
def test_a_sagemaker_model_archive_is_exported_by_the_real_exporter(
    runtime: Runtime, model_archive: bytes, kind: str
) -> None:
    exporter = EXPORTERS[kind]()
    name = f"layoutlm-tiny-{kind}"
    archive = runtime.artifacts_uri(f"output/{name}/output/model.tar.gz")
    runtime.artifacts.put_bytes(archive, model_archive)
    job_id = runtime.jobs.create_job(JobDraft(name=name))
    runtime.jobs.start_job(job_id)
    runtime.jobs.succeed_job(
        job_id,
        JobResults(best_checkpoint_uri=archive, best_f1=0.5, best_epoch=1, epochs_run=1),
    )
    worker = ExportWorker(
        exports=runtime.exports,
        jobs_queue=runtime.queues.export_jobs,
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        exporter=exporter,
        extractor=SafeTarExtractor(),
    )

    assert worker.serve(continuous=True, until_empty=True) == ["exported"]

    export = runtime.exports.get_export(ExportJob.auto_id_for(job_id))
    assert export.status is ExportStatus.SUCCEEDED and export.outcome is not None
    bundle = export.outcome.bundle_uri
    assert bundle == runtime.artifacts_uri(f"output/{name}/output/coreml/float16/")
    stored = {uri.removeprefix(bundle) for uri in runtime.artifacts.list(bundle)}
    assert {MODEL_FILES[kind], "vocab.txt", "label_map.json", "manifest.json"} <= stored
    assert set(export.outcome.file_sizes) == stored
    labels = json.loads(runtime.artifacts.get_bytes(bundle + "label_map.json"))
    assert TAGS[1] in json.dumps(labels)
    [result] = runtime.queues.export_results.receive(max_messages=10)
    body = json.loads(result.body)
    assert (body["status"], body["bundle_uri"], body["job_id"]) == ("succeeded", bundle, name)
    assert body["total_bytes"] == export.outcome.total_bytes > 10_000


def test_the_tiny_archive_holds_a_safetensors_checkpoint(model_archive: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(model_archive)) as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "vocab.txt"} <= names
    assert not any(Path(name).suffix == ".bin" for name in names)
