"""OCR jobs in aws mode on the moto server: the upload Lambda stores the image in S3 and
queues the job on SQS; the worker reads it, puts results in S3 and the word-label record
in the DynamoDB single table, records the OCRJob events in DynamoDB and sends the
completion message; the results Lambda finds the job already ended."""

from __future__ import annotations

import base64
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.conftest import aws_mode_settings
from tests.ml.ocr.conftest import sidecar, write_receipt_image

from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ocr.ocr_worker import OCRWorker
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.inference import load_predictor
from receipts.bootstrap.ocr import build_ocr_worker
from receipts.domain.labels import ValidationStatus
from receipts.domain.ocr_job import OCRStatus
from receipts.entrypoints.lambdas.ocr_results import record_ocr_result
from receipts.entrypoints.lambdas.ocr_upload import make_handler

pytest.importorskip("torch")


@pytest.fixture
def runtime(aws_env: dict[str, str], unique_name: str) -> Iterator[Runtime]:
    settings = aws_mode_settings(unique_name)
    runtime = bootstrap(settings)
    yield runtime
    runtime.close()


def worker(runtime: Runtime, model: str, cache: Path, **options: Any) -> OCRWorker:
    models = ModelCache(runtime.artifacts, cache, load_predictor, default=model)
    return build_ocr_worker(runtime, models=models, log=_Quiet(), **options)


class _Quiet:
    def info(self, event: str, **fields: Any) -> None: ...
    def warning(self, event: str, **fields: Any) -> None: ...
    def error(self, event: str, **fields: Any) -> None: ...


def png_bytes(path: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).save(buffer, format="PNG")
    return buffer.getvalue()


def api_event(body: bytes, **query: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /ocr-jobs",
        "headers": {"content-type": "image/png"},
        "queryStringParameters": query or None,
        "isBase64Encoded": True,
        "body": base64.b64encode(body).decode(),
    }


def test_an_uploaded_image_is_read_into_s3_results_and_dynamodb_labels(
    runtime: Runtime, tiny_model: Path, tmp_path: Path
) -> None:
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract missing")
    # the model comes from S3 too, as a prefix the worker downloads into its cache once
    model_uri = runtime.artifacts_uri("models/tiny/")
    runtime.artifacts.upload_dir(tiny_model, model_uri)
    upload = make_handler(lambda: runtime)
    image = write_receipt_image(tmp_path, 20, with_sidecar=False)

    response = upload(api_event(png_bytes(image), engine="tesseract"), None)

    assert response["statusCode"] == 202, response
    created = json.loads(response["body"])
    assert created["image_uri"].startswith(f"s3://{runtime.settings.bucket}/raw-receipts/")
    assert runtime.queues.ocr_jobs.approximate_count() == 1
    handled = worker(runtime, model_uri, tmp_path / "cache").serve(continuous=True)

    assert handled == ["completed"]
    job = runtime.ocr_jobs.get_ocr_job(created["job_id"])
    assert job.status is OCRStatus.COMPLETED and job.outcome is not None
    for uri in job.outcome.result_uris.values():
        assert uri.startswith(f"s3://{runtime.settings.bucket}/")
        assert json.loads(runtime.artifacts.get_bytes(uri))["receipt_id"] == f"ocr-{job.id}"
    record = runtime.labels.get(f"ocr-{job.id}")
    assert len(record.words) == job.outcome.word_count
    labelled = [w for w in record.words if w.label != "O"]
    assert labelled
    runtime.labels.set_validation_status(
        record.receipt_id, labelled[0].word_id, ValidationStatus.INVALID
    )
    assert runtime.labels.get(record.receipt_id).words[labelled[0].word_id].validation_status is (
        ValidationStatus.INVALID
    )
    [message] = runtime.queues.ocr_results.receive(max_messages=10)
    assert json.loads(message.body)["status"] == "completed"
    # the seeds' results Lambda consuming the same message finds the job ended
    assert record_ocr_result(runtime.ocr_jobs, message.body) == "unchanged"


def test_an_image_put_straight_into_s3_is_queued_once_and_read_with_its_sidecar(
    runtime: Runtime, tiny_model: Path, tmp_path: Path
) -> None:
    from receipts.adapters.synthetic.generator import generate_receipt

    image = write_receipt_image(tmp_path, 21, with_sidecar=False)
    key = "raw-receipts/straight.png"
    uri = runtime.artifacts_uri(key)
    runtime.artifacts.upload_file(image, uri)
    runtime.artifacts.put_bytes(
        uri + ".ocr.json", json.dumps(sidecar(generate_receipt(99, 21)[0])).encode()
    )
    record = {
        "eventSource": "aws:s3",
        "s3": {"bucket": {"name": runtime.settings.bucket}, "object": {"key": key, "eTag": "abc"}},
    }
    sidecar_record = {
        "s3": {"bucket": {"name": runtime.settings.bucket}, "object": {"key": key + ".ocr.json"}}
    }
    upload = make_handler(lambda: runtime)

    first = upload({"Records": [record, sidecar_record]}, None)
    again = upload({"Records": [record]}, None)

    assert first["submitted"] == again["submitted"] and len(first["submitted"]) == 1
    handled = worker(runtime, str(tiny_model), tmp_path / "cache", engine_override="stub").serve(
        continuous=True
    )
    assert handled[0] == "completed"
    assert runtime.ocr_jobs.get_ocr_job(first["submitted"][0]).status is OCRStatus.COMPLETED


def test_a_bad_upload_is_refused_with_the_reason_and_nothing_is_stored(runtime: Runtime) -> None:
    upload = make_handler(lambda: runtime)
    before = runtime.artifacts.list(runtime.artifacts_uri("raw-receipts/"))

    not_image = upload(api_event(b"%PDF-1.4 not a receipt image"), None)
    empty = upload({"body": "", "isBase64Encoded": True}, None)

    assert not_image["statusCode"] == 400 and "not a usable image" in not_image["body"]
    assert empty["statusCode"] == 400 and "no body" in empty["body"]
    assert runtime.artifacts.list(runtime.artifacts_uri("raw-receipts/")) == before
    assert runtime.queues.ocr_jobs.approximate_count() == 0


def test_the_cli_submits_and_works_ocr_jobs_on_aws_by_environment(
    runtime: Runtime, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from receipts.entrypoints.cli import app

    settings = runtime.settings
    monkeypatch.setenv("RECEIPTS_MODE", "aws")
    monkeypatch.setenv("RECEIPTS_HOME", str(tmp_path / "home"))
    for name in ("events_table", "table", "bucket", "export_queue", "export_results_queue"):
        monkeypatch.setenv(f"RECEIPTS_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("OCR_JOB_QUEUE_URL", settings.ocr_queue)  # the seeds' variable names
    monkeypatch.setenv("OCR_RESULTS_QUEUE_URL", settings.ocr_results_queue)
    image = write_receipt_image(tmp_path, 23)  # with its sidecar, for the stub engine

    # the single table is declared by infra/ in production; here it does not exist yet
    missing = CliRunner().invoke(app, ["ocr-submit", str(image), "--engine", "stub"])
    failing = CliRunner().invoke(app, ["ocr-worker", "--continuous", "--model", str(tiny_model)])
    assert missing.exit_code == 0, missing.output
    assert failing.exit_code == 1 and "error 1" in failing.output
    assert str(settings.table) in failing.output
    [uploaded] = [
        uri
        for uri in runtime.artifacts.list(runtime.artifacts_uri("raw-receipts/"))
        if uri.endswith(".png")
    ]
    unpublished = runtime.ocr_jobs.get_ocr_job(uploaded.rsplit("/", 1)[-1].split(".")[0])
    # not failed: the job was fine, the table was not; its results wait, staged, for the
    # message's redelivery to publish them
    assert unpublished.status is OCRStatus.COMPLETED
    staged = runtime.artifacts.list(runtime.artifacts_uri("ocr_results/"))
    assert staged and all("/attempt-1/" in uri for uri in staged)
    monkeypatch.setenv("RECEIPTS_CREATE_RESOURCES", "true")

    submitted = CliRunner().invoke(app, ["ocr-submit", str(image), "--engine", "stub"])
    worked = CliRunner().invoke(app, ["ocr-worker", "--continuous", "--model", str(tiny_model)])
    listed = CliRunner().invoke(app, ["ocr-jobs", "--json"])

    assert submitted.exit_code == 0, submitted.output
    assert worked.exit_code == 0, worked.output
    assert "completed 1" in worked.output
    jobs = json.loads(listed.stdout)
    assert [j["status"] for j in jobs] == ["completed", "completed"]
    job = jobs[1]  # the first one's message comes back after its visibility timeout
    assert job["image_uri"].startswith("s3://")
    record = runtime.labels.get(f"ocr-{job['ocr_job_id']}")
    assert len(record.words) == job["word_count"]
