"""The MessageQueue port on Amazon SQS (boto3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from receipts.adapters.aws_clients import client
from receipts.adapters.sqs import messages as m
from receipts.adapters.sqs.errors import (
    BatchPartlyRefused,
    MessageRefused,
    MessageTooLarge,
    QueueMissing,
    ReceiptHandleInvalid,
)
from receipts.application.ports.queue import QueueMessage
from receipts.application.queueing.visibility_heartbeat import VisibilityHeartbeat

__all__ = [
    "MessageRefused",
    "MessageTooLarge",
    "QueueMissing",
    "ReceiptHandleInvalid",
    "SQSQueue",
]


class SQSQueue:
    """One SQS queue, by URL. Timeouts and waits round up to whole seconds (SQS's unit).

    Unlike the memory and SQLite queues, SQS accepts a stale or already-used receipt
    handle in `delete` (the message is deleted, or already was): it cannot tell a late
    duplicate delete from a first one.
    """

    def __init__(self, queue_url: str, sqs: Any | None = None) -> None:
        self.queue_url = queue_url
        self.sqs = sqs or client("sqs")

    @property
    def name(self) -> str:
        return m.queue_name(self.queue_url)

    def __repr__(self) -> str:
        return f"SQSQueue({self.queue_url!r})"

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
        """Creates the queue (and its redrive policy), or updates an existing one's attributes."""
        sqs = sqs or client("sqs")
        arn = dead_letter_queue.attribute("QueueArn") if dead_letter_queue is not None else None
        attributes = m.queue_attributes(visibility_timeout, arn, max_receive_count)
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as error:
            if m.error_code(error) not in m.QUEUE_EXISTS:
                raise
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return cls(url, sqs)

    @classmethod
    def by_name(cls, name: str, sqs: Any | None = None) -> SQSQueue:
        """The existing queue called `name`; QueueMissing names it when there is none."""
        sqs = sqs or client("sqs")
        try:
            return cls(sqs.get_queue_url(QueueName=name)["QueueUrl"], sqs)
        except ClientError as error:
            if m.is_missing_queue(error):
                raise QueueMissing(name) from None
            raise

    def attribute(self, name: str) -> str:
        attributes = self._call("get_queue_attributes", AttributeNames=[name])["Attributes"]
        return str(attributes[name])

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Raises MessageRefused (before sending) for a body SQS would refuse."""
        response = self._call("send_message", **m.send_args(self.name, body, delay_seconds))
        return str(response["MessageId"])

    def send_batch(self, bodies: Sequence[str]) -> list[str]:
        """Sends in batches within SQS's limits (10 messages, 256 KiB); returns the ids in order.

        Every body is checked before any is sent; if SQS still refuses an entry,
        BatchPartlyRefused names it and the ids of those sent.
        """
        sent: dict[int, str] = {}
        refused: dict[int, str] = {}
        for start, chunk in m.batches(self.name, bodies):
            entries = [{"Id": str(start + i), "MessageBody": b} for i, b in enumerate(chunk)]
            response = self._call("send_message_batch", Entries=entries)
            sent.update({int(e["Id"]): e["MessageId"] for e in response.get("Successful", [])})
            refused.update(
                {int(f["Id"]): str(f.get("Message")) for f in response.get("Failed", [])}
            )
        if refused:
            raise BatchPartlyRefused(self.name, refused, sent)
        return [sent[index] for index in range(len(bodies))]

    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[QueueMessage]:
        kwargs = m.receive_args(max_messages, wait_seconds, visibility_timeout)
        return m.messages_of(self._call("receive_message", **kwargs))

    def delete(self, receipt_handle: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle)
        except ClientError as error:
            m.raise_for_handle(self.name, receipt_handle, error)
            raise

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Deletes every valid handle; then raises ReceiptHandleInvalid for the first invalid."""
        invalid: list[str] = []
        for start, chunk in m.handle_batches(receipt_handles):
            entries = [{"Id": str(start + i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
            response = self._call("delete_message_batch", Entries=entries)
            invalid += [receipt_handles[int(f["Id"])] for f in response.get("Failed", [])]
        if invalid:
            raise ReceiptHandleInvalid(self.name, invalid[0])

    def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        seconds = m.visibility_seconds(timeout_seconds)
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except ClientError as error:
            m.raise_for_handle(self.name, receipt_handle, error)
            raise

    def heartbeat(
        self, receipt_handle: str, *, every: float, timeout: float
    ) -> VisibilityHeartbeat:
        """`with queue.heartbeat(handle, every=60, timeout=180): ...` keeps the message hidden;
        the first failed beat stops it (kept in `.error`)."""
        return VisibilityHeartbeat(
            self, receipt_handle, every=every, timeout=timeout, stop_on_failure=True
        )

    def approximate_count(self) -> int:
        response = self._call("get_queue_attributes", AttributeNames=m.COUNT_ATTRIBUTES)
        return m.approximate_total(response["Attributes"])

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.sqs, operation)(QueueUrl=self.queue_url, **kwargs)
        except ClientError as error:
            if m.is_missing_queue(error):
                raise QueueMissing(self.name) from None
            raise
