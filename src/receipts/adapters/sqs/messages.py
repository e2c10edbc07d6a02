"""What the sync and async SQS adapters share: limits, request building, response parsing."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from receipts.adapters.sqs.errors import (
    InvalidMessageBody,
    MessageTooLarge,
    QueueMissing,
    ReceiptHandleInvalid,
)
from receipts.application.ports.queue import (
    MAX_BATCH,
    MAX_MESSAGE_BYTES,
    QueueMessage,
    check_delay,
    check_receive_args,
    check_visibility_timeout,
)

_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_BAD_HANDLE = {"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"}
QUEUE_EXISTS = {"QueueAlreadyExists", "QueueNameExists"}

# The characters SQS accepts in a body (#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | ...).
_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing_queue(error: ClientError) -> bool:
    return error_code(error) in _MISSING_QUEUE


def is_bad_handle(error: ClientError) -> bool:
    return error_code(error) in _BAD_HANDLE


def queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def check_body(queue: str, body: str) -> int:
    """The body's size in bytes; raises MessageRefused when SQS would refuse it."""
    if not isinstance(body, str):
        raise InvalidMessageBody(queue, f"body must be str, got {type(body).__name__}")
    if not body:
        raise InvalidMessageBody(queue, "body is empty")
    bad = _FORBIDDEN.search(body)
    if bad:
        raise InvalidMessageBody(
            queue, f"body holds character {bad.group()!r} at index {bad.start()}"
        )
    size = len(body.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(queue, size, MAX_MESSAGE_BYTES)
    return size


def batches(queue: str, bodies: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(index of the first body, bodies) chunks within SQS's batch limits (10, 256 KiB).

    Every body is checked first, so a bad one is refused before any is sent.
    """
    sizes = [check_body(queue, body) for body in bodies]
    start, total = 0, 0
    chunk: list[str] = []
    for index, (body, size) in enumerate(zip(bodies, sizes, strict=True)):
        if chunk and (len(chunk) == MAX_BATCH or total + size > MAX_MESSAGE_BYTES):
            yield start, chunk
            start, chunk, total = index, [], 0
        chunk.append(body)
        total += size
    if chunk:
        yield start, chunk


def handle_batches(handles: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(handles), MAX_BATCH):
        yield start, list(handles[start : start + MAX_BATCH])


def send_args(queue: str, body: str, delay_seconds: int) -> dict[str, Any]:
    check_delay(delay_seconds)
    check_body(queue, body)
    return {"MessageBody": body, "DelaySeconds": delay_seconds}


def receive_args(
    max_messages: int, wait_seconds: float, visibility_timeout: float | None
) -> dict[str, Any]:
    """SQS counts in whole seconds: waits and timeouts round up."""
    check_receive_args(max_messages, wait_seconds, visibility_timeout)
    kwargs: dict[str, Any] = {
        "MaxNumberOfMessages": max_messages,
        "WaitTimeSeconds": math.ceil(wait_seconds),
        "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
    }
    if visibility_timeout is not None:
        kwargs["VisibilityTimeout"] = math.ceil(visibility_timeout)
    return kwargs


def visibility_seconds(timeout_seconds: float) -> int:
    check_visibility_timeout(timeout_seconds)
    return math.ceil(timeout_seconds)


def messages_of(response: Mapping[str, Any]) -> list[QueueMessage]:
    return [
        QueueMessage(
            message_id=m["MessageId"],
            body=m["Body"],
            receipt_handle=m["ReceiptHandle"],
            receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
        )
        for m in response.get("Messages", [])
    ]


def queue_attributes(
    visibility_timeout: int, dead_letter_arn: str | None, max_receive_count: int | None
) -> dict[str, str]:
    """CreateQueue attributes; a redrive policy needs both the DLQ and the receive count."""
    check_visibility_timeout(visibility_timeout)
    if (max_receive_count is None) != (dead_letter_arn is None):
        raise ValueError("max_receive_count and dead_letter_queue must be given together")
    attributes = {"VisibilityTimeout": str(visibility_timeout)}
    if max_receive_count is not None:
        if max_receive_count < 1:
            raise ValueError(f"max_receive_count must be at least 1, got {max_receive_count}")
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receive_count)}
        )
    return attributes


def approximate_total(attributes: Mapping[str, Any]) -> int:
    return sum(int(attributes.get(name, 0)) for name in COUNT_ATTRIBUTES)


COUNT_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def raise_for_handle(queue: str, receipt_handle: str, error: ClientError) -> None:
    """Translate a ClientError of a receipt-handle call; returns only if it is none of ours."""
    if is_missing_queue(error):
        raise QueueMissing(queue) from None
    if is_bad_handle(error):
        raise ReceiptHandleInvalid(queue, receipt_handle) from None
