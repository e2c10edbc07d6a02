"""The MessageQueue port on Amazon SQS (boto3)."""

from __future__ import annotations

import json
import math
from typing import Any

from botocore.exceptions import ClientError

from receipts.adapters.dynamodb.clients import client
from receipts.adapters.memory.queue import ReceiptHandleInvalid, check_delay, check_receive_args
from receipts.application.ports.queue import QueueMessage


class QueueMissing(LookupError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"SQS queue {queue!r} does not exist")
        self.queue = queue


class SQSQueue:
    """One SQS queue, by URL. Visibility timeouts round up to whole seconds (SQS's unit)."""

    def __init__(self, queue_url: str, sqs: Any | None = None) -> None:
        self.queue_url = queue_url
        self.sqs = sqs or client("sqs")

    @property
    def name(self) -> str:
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def ensure(
        cls,
        name: str,
        *,
        sqs: Any | None = None,
        visibility_timeout: int = 30,
        dead_letter_queue: SQSQueue | None = None,
        max_receive_count: int | None = None,
    ) -> SQSQueue:
        """Creates the queue (and its redrive policy) if needed: for tests and development."""
        sqs = sqs or client("sqs")
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if dead_letter_queue is not None and max_receive_count:
            arn = dead_letter_queue.attribute("QueueArn")
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receive_count)}
            )
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return cls(url, sqs)

    @classmethod
    def by_name(cls, name: str, sqs: Any | None = None) -> SQSQueue:
        sqs = sqs or client("sqs")
        try:
            return cls(sqs.get_queue_url(QueueName=name)["QueueUrl"], sqs)
        except ClientError as error:
            if _code(error) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise QueueMissing(name) from None
            raise

    def attribute(self, name: str) -> str:
        attributes = self._call("get_queue_attributes", AttributeNames=[name])["Attributes"]
        return str(attributes[name])

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        check_delay(delay_seconds)
        response = self._call("send_message", MessageBody=body, DelaySeconds=delay_seconds)
        return str(response["MessageId"])

    def send_batch(self, bodies: list[str]) -> list[str]:
        """Sends in batches of ten; raises if SQS refused any entry (naming which)."""
        ids: list[str] = []
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            response = self._call(
                "send_message_batch",
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
            )
            if response.get("Failed"):
                failed = ", ".join(
                    f"#{start + int(f['Id'])}: {f.get('Message')}" for f in response["Failed"]
                )
                raise RuntimeError(f"SQS refused messages {failed}")
            by_id = {int(entry["Id"]): entry["MessageId"] for entry in response["Successful"]}
            ids += [by_id[i] for i in range(len(chunk))]
        return ids

    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[QueueMessage]:
        check_receive_args(max_messages, wait_seconds, visibility_timeout)
        kwargs: dict[str, Any] = {
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": math.ceil(wait_seconds),
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = math.ceil(visibility_timeout)
        response = self._call("receive_message", **kwargs)
        return [
            QueueMessage(
                message_id=m["MessageId"],
                body=m["Body"],
                receipt_handle=m["ReceiptHandle"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, receipt_handle: str) -> None:
        try:
            self._call("delete_message", ReceiptHandle=receipt_handle)
        except ClientError as error:
            if _code(error) in ("ReceiptHandleIsInvalid", "InvalidParameterValue"):
                raise ReceiptHandleInvalid(self.name, receipt_handle) from None
            raise

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        try:
            self._call(
                "change_message_visibility",
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=math.ceil(timeout_seconds),
            )
        except ClientError as error:
            if _code(error) in (
                "ReceiptHandleIsInvalid",
                "InvalidParameterValue",
                "MessageNotInflight",
            ):
                raise ReceiptHandleInvalid(self.name, receipt_handle) from None
            raise

    def approximate_count(self) -> int:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._call("get_queue_attributes", AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(n, 0)) for n in names)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.sqs, operation)(QueueUrl=self.queue_url, **kwargs)
        except ClientError as error:
            if _code(error) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise QueueMissing(self.queue_url) from None
            raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
