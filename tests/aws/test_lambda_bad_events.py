"""Every Lambda handler answers a malformed event with a 4xx naming the problem (never a
500), and `ocr_upload` isolates the bad records of an S3 batch. Real event shapes, on a
memory Runtime (fast)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.aws.lambda_support import sqs_event, state_change

from receipts.bootstrap import Runtime, bootstrap
from receipts.entrypoints.lambdas import (
    export_results,
    inference_api,
    inference_cache_generator,
    ocr_results,
    ocr_upload,
    queue_export,
    start_training,
)
from receipts.settings import Settings

Handler = Callable[[Any, Any], dict[str, Any]]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path, ocr_engine="stub"))
    yield runtime
    runtime.close()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def api_upload(query: Any = None, body: Any = None, encoded: Any = True) -> dict[str, Any]:
    """API Gateway (HTTP API, payload 2.0) POST /ocr-jobs."""
    return {
        "version": "2.0",
        "routeKey": "POST /ocr-jobs",
        "headers": {"content-type": "image/png"},
        "queryStringParameters": query,
        "isBase64Encoded": encoded,
        "body": base64.b64encode(png()).decode() if body is None else body,
    }


def s3_record(bucket: Any, key: Any, etag: str = "e1") -> dict[str, Any]:
    """An S3 ObjectCreated notification record (the fields S3 sends that matter here)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10, "eTag": etag}},
    }


def uploads(runtime: Runtime) -> list[str]:
    return runtime.artifacts.list(runtime.artifacts_uri("raw-receipts/"))


def body_of(response: dict[str, Any]) -> Any:
    body = response.get("body")
    return json.loads(body) if isinstance(body, str) else body


def handlers(runtime: Runtime) -> dict[str, Handler]:
    def reports(_: Runtime) -> Any:
        raise AssertionError("a malformed event must not reach the model")

    return {
        "start_training": start_training.make_handler(lambda: runtime),
        "queue_export": queue_export.make_handler(lambda: runtime),
        "export_results": export_results.make_handler(lambda: runtime),  # type: ignore[dict-item]
        "ocr_results": ocr_results.make_handler(lambda: runtime),  # type: ignore[dict-item]
        "ocr_upload": ocr_upload.make_handler(lambda: runtime),
        "inference_api": inference_api.make_handler(lambda: runtime, reports),
        "inference_cache_generator": inference_cache_generator.make_handler(
            lambda: runtime, reports
        ),
    }


MALFORMED: list[tuple[str, Any, str]] = [
    ("start_training", ["not", "an", "object"], "expected a JSON object"),
    ("start_training", {"body": "{oops"}, "not JSON"),
    ("queue_export", [], "expected a JSON object"),
    ("queue_export", {"detail": "x"}, "source"),
    ("queue_export", {**state_change("x", "Completed"), "detail": []}, "detail"),
    ("export_results", {"Records": "x"}, "Records: expected a list"),
    ("export_results", {"Records": [{"body": "{}"}]}, "messageId"),
    ("ocr_results", ["Records"], "Records: expected a list"),
    ("ocr_upload", ["x"], "not a JSON object"),
    ("ocr_upload", {"Records": {"s3": {}}}, "Records: expected a list"),
    ("ocr_upload", api_upload(query={"engine": ["stub", "tesseract"]}), "query engine"),
    ("ocr_upload", api_upload(query=["engine=stub"]), "queryStringParameters"),
    ("ocr_upload", api_upload(body={"image": "x"}), "body: expected the image"),
    ("ocr_upload", api_upload(body="not base64!"), "marked base64 but is not"),
    ("ocr_upload", api_upload(encoded=False, body="\u20ac image"), "send it base64"),
    ("ocr_upload", api_upload(query={"engine": "bogus"}), "ocr_engine"),
    ("inference_api", "GET", "not a JSON object"),
    ("inference_api", {"queryStringParameters": {"receipt_id": ["a", "b"]}}, "one text value"),
    ("inference_api", {"requestContext": "x", "queryStringParameters": "x"}, "one text value"),
    ("inference_cache_generator", 7, "not a JSON object"),
    ("inference_cache_generator", {"seed": "three"}, "seed: expected a whole number"),
    ("inference_cache_generator", {"receipt_id": ["a"]}, "receipt_id: expected text"),
]


@pytest.mark.parametrize(
    ("handler", "event", "problem"),
    MALFORMED,
    ids=[f"{h}-{i}" for i, (h, _, _) in enumerate(MALFORMED)],
)
def test_a_malformed_event_is_a_400_naming_the_problem_and_stores_nothing(
    runtime: Runtime, handler: str, event: Any, problem: str
) -> None:
    response = handlers(runtime)[handler](event, None)

    assert response["statusCode"] == 400, response
    assert problem in json.dumps(body_of(response) if "body" in response else response)
    assert uploads(runtime) == []
    assert runtime.catalog().all() == []
    assert runtime.queues.ocr_jobs.approximate_count() == 0


def test_an_s3_batch_submits_every_good_record_and_names_the_bad_ones(
    runtime: Runtime,
) -> None:
    """One bad record failed the whole batch, so later images never got their jobs."""
    handle = handlers(runtime)["ocr_upload"]
    event = {
        "Records": [
            s3_record("bucket", "raw-receipts/a.png"),
            {"eventSource": "aws:s3"},  # no s3 section
            s3_record("bucket", "raw-receipts/../escape.png"),  # refused by the URI rules
            s3_record(["bucket"], "raw-receipts/b.png"),
            s3_record("bucket", "raw-receipts/c+d.png"),
            s3_record("bucket", "other/ignored.png"),
        ]
    }

    response = handle(event, None)
    again = handle(event, None)

    assert len(response["submitted"]) == 2
    assert [r["record"] for r in response["refused"]] == [1, 2, 3]
    assert "s3.bucket.name and s3.object.key" in response["refused"][0]["error"]
    assert ".." in response["refused"][1]["error"]
    images = {runtime.ocr_jobs.get_ocr_job(i).request.image_uri for i in response["submitted"]}
    assert images == {"s3://bucket/raw-receipts/a.png", "s3://bucket/raw-receipts/c d.png"}
    assert again["submitted"] == response["submitted"]  # idempotent by bucket, key and ETag
    assert runtime.queues.ocr_jobs.approximate_count() == 2


class FlakySubmit:
    """The OCR jobs application, whose submit of one key fails once (a throttled table)."""

    def __init__(self, runtime: Runtime, key: str) -> None:
        self.ocr_jobs, self.key, self.failed = runtime.ocr_jobs, key, False

    def submit(self, image_uri: str, **fields: Any) -> Any:
        if image_uri.endswith(self.key) and not self.failed:
            self.failed = True
            raise ConnectionError("throttled")
        return self.ocr_jobs.submit(image_uri, **fields)


def test_a_transient_failure_submits_the_rest_then_fails_the_invocation_for_a_retry(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakySubmit(runtime, "b.png")
    monkeypatch.setattr(type(runtime), "ocr_jobs", property(lambda _: flaky))
    handle = handlers(runtime)["ocr_upload"]
    event = {"Records": [s3_record("bucket", f"raw-receipts/{n}.png") for n in "abc"]}

    with pytest.raises(ConnectionError):
        handle(event, None)
    assert runtime.queues.ocr_jobs.approximate_count() == 2  # a and c, before the retry
    retried = handle(event, None)

    assert len(retried["submitted"]) == 3 and retried["refused"] == []
    assert runtime.queues.ocr_jobs.approximate_count() == 3


def test_an_upload_whose_job_cannot_be_submitted_is_removed(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list-valued query string once left an uploaded image with no job."""
    flaky = FlakySubmit(runtime, ".png")
    monkeypatch.setattr(type(runtime), "ocr_jobs", property(lambda _: flaky))
    handle = handlers(runtime)["ocr_upload"]

    with pytest.raises(ConnectionError):
        handle(api_upload(), None)
    assert uploads(runtime) == []
    accepted = handle(api_upload(query={"engine": "stub"}), None)

    assert accepted["statusCode"] == 202, accepted
    [image] = uploads(runtime)
    assert body_of(accepted)["image_uri"] == image


def test_an_sqs_record_over_the_message_limit_is_reported_alone(runtime: Runtime) -> None:
    """Partial batch response: the oversized body is listed; the other record is handled."""
    handle = handlers(runtime)["ocr_results"]
    job = runtime.ocr_jobs.submit("s3://bucket/raw-receipts/a.png")
    oversized = json.dumps({"job_id": str(job), "status": "failed", "error": "x" * 300_000})
    in_progress = json.dumps({"job_id": str(job), "status": "pending"})

    response = handle(sqs_event(oversized, in_progress), None)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert runtime.ocr_jobs.get_ocr_job(job).status.value == "pending"
