"""Queue message bodies: parsed strictly, and never past the queue's size limit."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from receipts.application.ports.queue import MAX_MESSAGE_BYTES
from receipts.application.queueing.messages import ExportResultMessage, OCRMessage
from receipts.domain.errors import InvalidInput


def ocr_body(**extra: object) -> str:
    return json.dumps(
        {"job_id": str(uuid4()), "image_uri": "s3://bucket/raw-receipts/x.png", **extra}
    )


def test_a_body_within_the_limit_parses() -> None:
    message = OCRMessage.parse(ocr_body())

    assert message.image_uri == "s3://bucket/raw-receipts/x.png"


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_a_body_over_the_queue_limit_is_refused_naming_its_size(as_bytes: bool) -> None:
    """An oversized body hand-queued (or sent by another worker) was parsed whole."""
    body = ocr_body(padding="x" * MAX_MESSAGE_BYTES)
    size = len(body.encode())

    with pytest.raises(InvalidInput) as refused:
        OCRMessage.parse(body.encode() if as_bytes else body)

    assert refused.value.problems == [
        f"{size:,} bytes, over the 262,144-byte limit of a queue message"
    ]
    assert "OCRMessage body" in str(refused.value)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1]", "expected a JSON object"),
        (b"\xff\xfe", "not JSON"),
        (json.dumps({"export_id": "nope", "job_id": "j", "status": "x"}), "export_id"),
    ],
    ids=["not-json", "a-list", "not-utf8", "bad-uuid"],
)
def test_a_malformed_body_names_the_problem(body: str | bytes, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        ExportResultMessage.parse(body)
