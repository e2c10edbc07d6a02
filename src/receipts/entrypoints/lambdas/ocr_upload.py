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
  nothing new.
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
        records = event.get("Records")
        if isinstance(records, list):
            return {"submitted": submit_s3_objects(runtime(), records)}
        return upload_image(runtime(), event)

    return handle


def upload_image(runtime: Runtime, event: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = _body(event)
    except InvalidInput as error:
        return _response(400, {"error": str(error)})
    query = event.get("queryStringParameters") or {}
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
        runtime.artifacts.delete(uri)
        return _response(400, {"error": str(error)})
    runtime.catch_up()  # the dispatcher queues the job now, not on the next invocation
    log.info("OCR job %s submitted for %s", job_id, uri)
    return _response(202, {"job_id": str(job_id), "image_uri": uri, "status": "pending"})


def submit_s3_objects(runtime: Runtime, records: list[Any]) -> list[str]:
    submitted = []
    for record in records:
        s3 = record.get("s3", {}) if isinstance(record, dict) else {}
        bucket = s3.get("bucket", {}).get("name")
        key = urllib.parse.unquote_plus(s3.get("object", {}).get("key", ""))
        if not bucket or not key.startswith(RAW_PREFIX) or key.endswith(".json"):
            log.info("S3 record ignored (not an image under %s): %s/%s", RAW_PREFIX, bucket, key)
            continue
        etag = s3.get("object", {}).get("eTag", "")
        job_id = uuid.uuid5(OBJECT_NAMESPACE, f"{bucket}/{key}#{etag}")
        runtime.ocr_jobs.submit(
            f"s3://{bucket}/{key}",
            ocr_job_id=job_id,
            ocr_engine=runtime.settings.ocr_engine,
            submitted_by="s3-upload",
        )
        submitted.append(str(job_id))
    runtime.catch_up()
    return submitted


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if not body:
        raise InvalidInput("upload", ["the request has no body: send the image bytes"])
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("upload", ["the body is marked base64 but is not"]) from None
    return body.encode("latin-1") if isinstance(body, str) else bytes(body)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


handler = make_handler()
