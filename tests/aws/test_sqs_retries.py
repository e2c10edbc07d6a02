"""Throttled SQS requests are retried with backoff by botocore, sync and async.

A fault proxy in front of the moto server answers chosen requests as SQS does when
over its rate; the clients are the real ones, built by `aws_clients`.
"""

from __future__ import annotations

import asyncio

import pytest
from botocore.exceptions import ClientError
from tests.aws.fault_proxy import FaultProxy, Request, sqs_throttling

from receipts.adapters.aws_clients import async_client, client, retry_config
from receipts.adapters.sqs.async_queue import AsyncSQSQueue
from receipts.adapters.sqs.queue import SQSQueue


def sends(request: Request) -> bool:
    return request.operation == "SendMessage"


def test_throttled_sends_are_retried(
    aws_env: dict[str, str], moto_endpoint: str, unique_name: str
) -> None:
    url = SQSQueue.ensure(unique_name).queue_url
    with FaultProxy(moto_endpoint, [sqs_throttling("SendMessage", times=2)]) as proxy:
        queue = SQSQueue(url, client("sqs", {**aws_env, "AWS_ENDPOINT_URL": proxy.url}))

        message_id = queue.send("made it")

        assert proxy.answered(sends) == [400, 400, 200]
    [message] = SQSQueue(url).receive()
    assert (message.message_id, message.body) == (message_id, "made it")


def test_throttling_surfaces_once_the_attempts_are_spent(
    aws_env: dict[str, str], moto_endpoint: str, unique_name: str
) -> None:
    url = SQSQueue.ensure(unique_name).queue_url
    with FaultProxy(moto_endpoint, [sqs_throttling("SendMessage", times=None)]) as proxy:
        sqs = client("sqs", {**aws_env, "AWS_ENDPOINT_URL": proxy.url}, retry_config(2))
        queue = SQSQueue(url, sqs)

        with pytest.raises(ClientError, match="ThrottlingException"):
            queue.send("never")

        assert proxy.answered(sends) == [400, 400]
    assert SQSQueue(url).approximate_count() == 0


def test_async_client_retries_throttled_sends(
    aws_env: dict[str, str], moto_endpoint: str, unique_name: str
) -> None:
    url = SQSQueue.ensure(unique_name).queue_url

    async def main(proxy_url: str) -> list[str]:
        env = {**aws_env, "AWS_ENDPOINT_URL": proxy_url}
        async with async_client("sqs", env) as sqs:
            queue = AsyncSQSQueue(url, sqs)
            return await asyncio.gather(*(queue.send(f"m{i}") for i in range(5)))

    with FaultProxy(moto_endpoint, [sqs_throttling("SendMessage", times=3)]) as proxy:
        ids = asyncio.run(main(proxy.url))

        answered = proxy.answered(sends)
    assert sorted(answered) == [200] * 5 + [400] * 3
    assert len(set(ids)) == 5
    assert SQSQueue(url).approximate_count() == 5
