"""AsyncSQSQueue (aioboto3) on the moto server: concurrency, batches, heartbeats, bad input.

The port-level behaviour runs in the queue contract (`[sqs-async]`); these tests use
`asyncio.run` directly (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from receipts.adapters.aws_clients import async_client
from receipts.adapters.sqs.async_queue import AsyncSQSQueue
from receipts.adapters.sqs.errors import (
    InvalidMessageBody,
    MessageTooLarge,
    QueueMissing,
    ReceiptHandleInvalid,
)
from receipts.application.ports.queue import MAX_MESSAGE_BYTES, AsyncMessageQueue

T = TypeVar("T")


def with_queue(name: str, test: Callable[[AsyncSQSQueue], Awaitable[T]], **settings: Any) -> T:
    async def main() -> T:
        async with async_client("sqs") as sqs:
            queue = await AsyncSQSQueue.ensure(name, sqs, **settings)
            return await test(queue)

    return asyncio.run(main())


def test_implements_the_async_port(aws_env: dict[str, str], unique_name: str) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        assert isinstance(queue, AsyncMessageQueue)
        assert queue.name == unique_name

    with_queue(unique_name, test)


def test_concurrent_sends_all_arrive_once(aws_env: dict[str, str], unique_name: str) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        ids = await asyncio.gather(*(queue.send(f"m{i}") for i in range(50)))
        received: dict[str, str] = {}
        while batch := await queue.receive(max_messages=10):
            received.update({m.message_id: m.body for m in batch})
            await queue.delete_batch([m.receipt_handle for m in batch])
        assert received == {id_: f"m{i}" for i, id_ in enumerate(ids)}
        assert await queue.approximate_count() == 0

    with_queue(unique_name, test)


def test_send_batch_and_delete_batch(aws_env: dict[str, str], unique_name: str) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        bodies = [f"b{i}" for i in range(23)] + ["y" * 120_000] * 3
        ids = await queue.send_batch(bodies)
        assert len(set(ids)) == len(bodies)
        handles = []
        while batch := await queue.receive(max_messages=10, visibility_timeout=30):
            handles += [m.receipt_handle for m in batch]
        assert len(handles) == len(bodies)

        with pytest.raises(ReceiptHandleInvalid, match="bogus"):
            await queue.delete_batch(["bogus", *handles])
        assert await queue.approximate_count() == 0

    with_queue(unique_name, test)


def test_bad_bodies_are_refused_before_sending(aws_env: dict[str, str], unique_name: str) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        with pytest.raises(MessageTooLarge, match=queue.name):
            await queue.send("z" * (MAX_MESSAGE_BYTES + 1))
        with pytest.raises(InvalidMessageBody, match="empty"):
            await queue.send("")
        with pytest.raises(InvalidMessageBody, match="index 1"):
            await queue.send_batch(["fine", "a\x07b", "fine"])
        assert await queue.approximate_count() == 0

    with_queue(unique_name, test)


def test_missing_queue_is_named(aws_env: dict[str, str], unique_name: str) -> None:
    async def main() -> None:
        async with async_client("sqs") as sqs:
            with pytest.raises(QueueMissing, match=unique_name):
                await AsyncSQSQueue.by_name(unique_name, sqs)
            queue = await AsyncSQSQueue.ensure(unique_name, sqs)
            await sqs.delete_queue(QueueUrl=queue.queue_url)
            with pytest.raises(QueueMissing, match=unique_name):
                await queue.send("x")
            with pytest.raises(QueueMissing, match=unique_name):
                await queue.receive()

    asyncio.run(main())


def test_long_poll_is_woken_by_a_concurrent_send(aws_env: dict[str, str], unique_name: str) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        async def send_later() -> None:
            await asyncio.sleep(0.2)
            await queue.send("wake up")

        started = time.monotonic()
        messages, _ = await asyncio.gather(queue.receive(wait_seconds=10), send_later())
        assert [m.body for m in messages] == ["wake up"]
        assert time.monotonic() - started < 10  # woken by the send, before its wait ended

    with_queue(unique_name, test)


def test_heartbeat_keeps_a_message_hidden_and_stops_on_exit(
    aws_env: dict[str, str], unique_name: str
) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        await queue.send("long work")
        [message] = await queue.receive()

        async with queue.heartbeat(message.receipt_handle, every=0.3, timeout=1) as beating:
            for _ in range(3):  # 1.5 s of work: 1.5 visibility timeouts
                await asyncio.sleep(0.5)
                assert await queue.receive() == []

        assert beating.error is None
        assert beating.beats >= 3
        assert asyncio.all_tasks() == {asyncio.current_task()}
        await asyncio.sleep(1.2)  # no more beats: the last timeout runs out
        [again] = await queue.receive()
        assert (again.message_id, again.receive_count) == (message.message_id, 2)

    with_queue(unique_name, test, visibility_timeout=1)


def test_heartbeat_stops_when_the_work_fails_or_is_cancelled(
    aws_env: dict[str, str], unique_name: str
) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        await queue.send("job")
        [message] = await queue.receive(visibility_timeout=10)

        with pytest.raises(RuntimeError, match="work failed"):
            async with queue.heartbeat(message.receipt_handle, every=0.05, timeout=10):
                await asyncio.sleep(0.1)
                raise RuntimeError("work failed")
        assert asyncio.all_tasks() == {asyncio.current_task()}

        async def work() -> None:
            async with queue.heartbeat(message.receipt_handle, every=0.05, timeout=10):
                await asyncio.sleep(10)

        task = asyncio.create_task(work())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert asyncio.all_tasks() == {asyncio.current_task()}

    with_queue(unique_name, test)


def test_heartbeat_records_a_lost_handle(aws_env: dict[str, str], unique_name: str) -> None:
    async def test(queue: AsyncSQSQueue) -> None:
        await queue.send("job")
        [message] = await queue.receive(visibility_timeout=10)

        async with queue.heartbeat(message.receipt_handle, every=0.1, timeout=10) as beating:
            await asyncio.sleep(0.25)
            await queue.delete(message.receipt_handle)
            await asyncio.sleep(0.3)
            beats = beating.beats
            await asyncio.sleep(0.3)
            assert beating.beats == beats

        assert isinstance(beating.error, ReceiptHandleInvalid)

    with_queue(unique_name, test)


def test_redrive_to_a_dead_letter_queue(aws_env: dict[str, str], unique_name: str) -> None:
    async def main() -> None:
        async with async_client("sqs") as sqs:
            dead = await AsyncSQSQueue.ensure(f"{unique_name}-dlq", sqs)
            queue = await AsyncSQSQueue.ensure(
                unique_name, sqs, dead_letter_queue=dead, max_receive_count=1
            )
            await queue.send("poison")
            [first] = await queue.receive(visibility_timeout=0)
            assert first.receive_count == 1
            assert await queue.receive() == []
            assert [m.body for m in await dead.receive()] == ["poison"]

    asyncio.run(main())
