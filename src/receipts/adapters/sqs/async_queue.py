"""The AsyncMessageQueue port on Amazon SQS (aioboto3), for asyncio workers.

Same semantics, limits and errors as `SQSQueue`. The aioboto3 client is the caller's:
`async with async_client("sqs") as sqs: queue = await AsyncSQSQueue.by_name("jobs", sqs)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from receipts.adapters.sqs import messages as m
from receipts.adapters.sqs.errors import BatchPartlyRefused, QueueMissing, ReceiptHandleInvalid
from receipts.adapters.sqs.heartbeat import AsyncHeartbeat
from receipts.application.ports.queue import QueueMessage

__all__ = ["AsyncSQSQueue"]


class AsyncSQSQueue:
    def __init__(self, queue_url: str, sqs: Any) -> None:
        self.queue_url = queue_url
        self.sqs = sqs

    @property
    def name(self) -> str:
        return m.queue_name(self.queue_url)

    def __repr__(self) -> str:
        return f"AsyncSQSQueue({self.queue_url!r})"

    @classmethod
    async def ensure(
        cls,
        name: str,
        sqs: Any,
        *,
        visibility_timeout: int = 30,
        dead_letter_queue: AsyncSQSQueue | None = None,
        max_receive_count: int | None = None,
    ) -> AsyncSQSQueue:
        """Creates the queue (and its redrive policy), or updates an existing one's attributes."""
        arn = None
        if dead_letter_queue is not None:
            arn = await dead_letter_queue.attribute("QueueArn")
        attributes = m.queue_attributes(visibility_timeout, arn, max_receive_count)
        try:
            url = (await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]
        except ClientError as error:
            if m.error_code(error) not in m.QUEUE_EXISTS:
                raise
            url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
            await sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return cls(url, sqs)

    @classmethod
    async def by_name(cls, name: str, sqs: Any) -> AsyncSQSQueue:
        try:
            return cls((await sqs.get_queue_url(QueueName=name))["QueueUrl"], sqs)
        except ClientError as error:
            if m.is_missing_queue(error):
                raise QueueMissing(name) from None
            raise

    async def attribute(self, name: str) -> str:
        response = await self._call("get_queue_attributes", AttributeNames=[name])
        return str(response["Attributes"][name])

    async def send(self, body: str, *, delay_seconds: int = 0) -> str:
        response = await self._call("send_message", **m.send_args(self.name, body, delay_seconds))
        return str(response["MessageId"])

    async def send_batch(self, bodies: Sequence[str]) -> list[str]:
        """Like `SQSQueue.send_batch`; the batches are sent concurrently."""
        chunks = list(m.batches(self.name, bodies))
        responses = await asyncio.gather(
            *(
                self._call(
                    "send_message_batch",
                    Entries=[
                        {"Id": str(start + i), "MessageBody": body} for i, body in enumerate(chunk)
                    ],
                )
                for start, chunk in chunks
            )
        )
        sent = {int(e["Id"]): e["MessageId"] for r in responses for e in r.get("Successful", [])}
        refused = {
            int(f["Id"]): str(f.get("Message")) for r in responses for f in r.get("Failed", [])
        }
        if refused:
            raise BatchPartlyRefused(self.name, refused, sent)
        return [sent[index] for index in range(len(bodies))]

    async def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[QueueMessage]:
        kwargs = m.receive_args(max_messages, wait_seconds, visibility_timeout)
        return m.messages_of(await self._call("receive_message", **kwargs))

    async def delete(self, receipt_handle: str) -> None:
        try:
            await self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle)
        except ClientError as error:
            m.raise_for_handle(self.name, receipt_handle, error)
            raise

    async def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Deletes every valid handle; then raises ReceiptHandleInvalid for the first invalid."""
        responses = await asyncio.gather(
            *(
                self._call(
                    "delete_message_batch",
                    Entries=[
                        {"Id": str(start + i), "ReceiptHandle": h} for i, h in enumerate(chunk)
                    ],
                )
                for start, chunk in m.handle_batches(receipt_handles)
            )
        )
        invalid = [receipt_handles[int(f["Id"])] for r in responses for f in r.get("Failed", [])]
        if invalid:
            raise ReceiptHandleInvalid(self.name, invalid[0])

    async def change_visibility(self, receipt_handle: str, timeout_seconds: float) -> None:
        seconds = m.visibility_seconds(timeout_seconds)
        try:
            await self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except ClientError as error:
            m.raise_for_handle(self.name, receipt_handle, error)
            raise

    def heartbeat(self, receipt_handle: str, *, every: float, timeout: float) -> AsyncHeartbeat:
        """`async with queue.heartbeat(handle, every=60, timeout=180): ...`."""
        return AsyncHeartbeat(self, receipt_handle, every=every, timeout=timeout)

    async def approximate_count(self) -> int:
        response = await self._call("get_queue_attributes", AttributeNames=m.COUNT_ATTRIBUTES)
        return m.approximate_total(response["Attributes"])

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return await getattr(self.sqs, operation)(QueueUrl=self.queue_url, **kwargs)
        except ClientError as error:
            if m.is_missing_queue(error):
                raise QueueMissing(self.name) from None
            raise
