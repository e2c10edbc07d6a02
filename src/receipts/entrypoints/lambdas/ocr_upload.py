"""Lambda `ocr_upload`: a receipt image in → an OCR job recorded and queued (the seeds'
Upload Lambda).

Two triggers:
- API Gateway (HTTP API, payload 2.0) `POST /ocr-jobs` with the image as the body
  (binary, so `isBase64Encoded`), optional query `engine` and `model_uri`. The image is
  checked (readable, not over the pixel limit) before anything is written; then stored at
  `raw-receipts/<job id>.<ext>` and the OCRJob submitted (the dispatcher queues it).
  202 `{job_id, image_uri, status}`; 400 with `{"error": ...}` naming the problem.
- S3 `ObjectCreated` under `raw-receipts/` (an image uploaded straight to the bucket): one
  job per object, its id derived from bucket, key and ETag, so a redelivered event records
  nothing new. Each record on its own: a malformed one is logged and listed in `refused`
  (retrying would not mend it), and the later records are still submitted; when a record
  met another error (a throttled table), the invocation fails after the others, so Lambda
  retries the event and only the missing jobs are recorded.

A malformed event (not an object, a query string that is not one value per name, a body
that is not the image) is a 400 naming the problem, and nothing is stored; an image is
stored only once its job can be submitted, and removed when the submit fails.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from receipts.adapters.image_files import checked_image
from receipts.application.ports.ocr_engine import OCRFailed
from receipts.bootstrap import Runtime
from receipts.domain.errors import InvalidInput
from receipts.entrypoints.lambdas.runtime import current_runtime

log = logging.getLogger("receipts.lambdas")

RAW_PREFIX = "raw-receipts/"
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp"}
OBJECT_NAMESPACE = uuid.UUID("6c1b4a52-51a7-4d0a-9a63-0a9f1e3c1d5e")


def make_handler(
    runtime: Callable[[], Runtime] = current_runtime,
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if not isinstance(event, Mapping):
            return _response(400, {"error": "the event is not a JSON object"})
        if "Records" in event:
            records = event["Records"]
            if not isinstance(records, list):
                return _response(400, {"error": "Records: expected a list of S3 records"})
            return submit_s3_objects(runtime(), records)
        return upload_image(runtime(), event)

    return handle


def upload_image(runtime: Runtime, event: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = _body(event)
        query = _query(event)
    except InvalidInput as error:
        return _response(400, {"error": str(error)})
    job_id = uuid.uuid4()
    with tempfile.TemporaryDirectory(prefix="receipts-upload-") as work:
        image = Path(work) / "upload"
        image.write_bytes(data)
        try:
            _, _, image_format = checked_image(image)
        except OCRFailed as error:
            return _response(400, {"error": f"the upload is not a usable image: {error.reason}"})
        uri = runtime.artifacts_uri(f"{RAW_PREFIX}{job_id}{EXTENSIONS.get(image_format, '')}")
        runtime.artifacts.upload_file(image, uri)
    try:
        runtime.ocr_jobs.submit(
            uri,
            ocr_job_id=job_id,
            ocr_engine=query.get("engine") or runtime.settings.ocr_engine,
            model_uri=query.get("model_uri"),
            submitted_by="upload-lambda",
        )
    except InvalidInput as error:
        runtime.artifacts.delete(uri)  # no image without its job
        return _response(400, {"error": str(error)})
    except Exception:
        runtime.artifacts.delete(uri)
        raise
    runtime.catch_up()  # the dispatcher queues the job now, not on the next invocation
    log.info("OCR job %s submitted for %s", job_id, uri)
    return _response(202, {"job_id": str(job_id), "image_uri": uri, "status": "pending"})


def submit_s3_objects(runtime: Runtime, records: list[Any]) -> dict[str, Any]:
    """One OCR job per image record: {submitted: [job id], refused: [{record, error}]};
    raises after the other records when one met an error a retry may mend."""
    submitted: list[str] = []
    refused: list[dict[str, Any]] = []
    retry: list[Exception] = []
    for index, record in enumerate(records):
        try:
            job_id = _submit_s3_object(runtime, record)
        except InvalidInput as error:
            log.error("S3 record %d refused: %s", index, error)
            refused.append({"record": index, "error": str(error)})
            continue
        except Exception as error:
            log.exception("S3 record %d not submitted (the event will be retried)", index)
            retry.append(error)
            continue
        if job_id is not None:
            submitted.append(str(job_id))
    runtime.catch_up()
    if retry:
        raise retry[0]
    return {"submitted": submitted, "refused": refused}


def _submit_s3_object(runtime: Runtime, record: Any) -> uuid.UUID | None:
    """The OCR job of one S3 record (None: not an image under raw-receipts/)."""
    s3 = record.get("s3") if isinstance(record, Mapping) else None
    bucket = _field(s3, "bucket", "name")
    key = _field(s3, "object", "key")
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
        raise InvalidInput("S3 record", ["s3.bucket.name and s3.object.key: expected strings"])
    key = urllib.parse.unquote_plus(key)
    if not key.startswith(RAW_PREFIX) or key.endswith(".json"):
        log.info("S3 record ignored (not an image under %s): %s/%s", RAW_PREFIX, bucket, key)
        return None
    etag = _field(s3, "object", "eTag") or ""
    job_id = uuid.uuid5(OBJECT_NAMESPACE, f"{bucket}/{key}#{etag}")
    return runtime.ocr_jobs.submit(
        f"s3://{bucket}/{key}",
        ocr_job_id=job_id,
        ocr_engine=runtime.settings.ocr_engine,
        submitted_by="s3-upload",
    )


def _field(record: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(record, Mapping):
            return None
        record = record.get(name)
    return record


def _query(event: Mapping[str, Any]) -> dict[str, str]:
    """The query string: one text value per name (API Gateway joins repeats with commas)."""
    query = event.get("queryStringParameters") or {}
    if not isinstance(query, Mapping):
        raise InvalidInput("upload", ["queryStringParameters: expected an object of names"])
    bad = [name for name, value in query.items() if not isinstance(value, str)]
    if bad:
        problems = [f"query {name}: expected one text value" for name in map(str, bad)]
        raise InvalidInput("upload", problems)
    return dict(query)


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if not body:
        raise InvalidInput("upload", ["the request has no body: send the image bytes"])
    if not isinstance(body, str):
        raise InvalidInput("upload", ["body: expected the image as (base64) text"])
    if event.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("upload", ["the body is marked base64 but is not"]) from None
    try:
        return body.encode("latin-1")
    except UnicodeEncodeError:
        problem = "the body is text, not image bytes: send it base64"
        raise InvalidInput("upload", [problem]) from None


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


handler = make_handler()
