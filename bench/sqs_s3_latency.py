"""SQS and S3 adapter latency on a local moto server, sync (boto3) vs async (aioboto3).

    .venv/bin/python bench/sqs_s3_latency.py [--rounds 50] [--concurrent 50] [--mb 1]

moto runs as a separate process (`moto_server` on 127.0.0.1), so the clients do not share
a GIL with it. Rows:

- SQS send+receive+delete, one message at a time: the round trip a worker pays per message;
- SQS N sends: sequential boto3 `send`, boto3 `send_batch` (10 per request), N aioboto3
  sends under `asyncio.gather`, aioboto3 `send_batch` (batches sent concurrently);
- S3 put/get of an `--mb` MB object, sequential, sync and async; and N puts at once
  through `asyncio.gather` vs the same N one after another with boto3.

Latency is loopback to moto, not AWS: the ratios say what concurrency buys, the
milliseconds do not carry over.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from uuid import uuid4

from receipts.adapters.aws_clients import async_client, client
from receipts.adapters.s3.artifact_store import S3ArtifactStore
from receipts.adapters.s3.async_artifact_store import AsyncS3ArtifactStore
from receipts.adapters.sqs.async_queue import AsyncSQSQueue
from receipts.adapters.sqs.queue import SQSQueue

Row = tuple[str, float]


def pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "n/a"


@contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def sync_rows(rounds: int, concurrent: int, data: bytes, bucket: str) -> list[Row]:
    queue = SQSQueue.ensure(f"bench-{uuid4().hex[:8]}")

    def round_trip() -> None:
        queue.send("m")
        [message] = queue.receive()
        queue.delete(message.receipt_handle)

    round_trip()  # connections and models warm
    round_trips = [timed(round_trip) for _ in range(rounds)]
    bodies = [f"b{i}" for i in range(concurrent)]

    def send_each() -> None:
        for body in bodies:
            queue.send(body)

    sequential = timed(send_each)
    batched = timed(lambda: queue.send_batch(bodies))

    store = S3ArtifactStore()
    store.create_bucket(bucket)
    uris = [f"s3://{bucket}/sync/{index}" for index in range(rounds)]
    puts = [timed(partial(store.put_bytes, uri, data)) for uri in uris]
    gets = [timed(partial(store.get_bytes, uri)) for uri in uris]

    def put_each() -> None:
        for index in range(concurrent):
            store.put_bytes(f"s3://{bucket}/many/{index}", data)

    many_puts = timed(put_each)
    mb = len(data) // 1_000_000
    return [
        ("SQS send+receive+delete, sync (median ms)", 1000 * statistics.median(round_trips)),
        (f"SQS {concurrent} sends, sync sequential (ms)", 1000 * sequential),
        (f"SQS {concurrent} sends, sync send_batch (ms)", 1000 * batched),
        (f"S3 put {mb} MB, sync (median ms)", 1000 * statistics.median(puts)),
        (f"S3 get {mb} MB, sync (median ms)", 1000 * statistics.median(gets)),
        (f"S3 {concurrent} puts, sync sequential (ms)", 1000 * many_puts),
    ]


async def atimed(run: Awaitable[object]) -> float:
    started = time.perf_counter()
    await run
    return time.perf_counter() - started


async def async_rows(rounds: int, concurrent: int, data: bytes, bucket: str) -> list[Row]:
    async with async_client("sqs") as sqs, async_client("s3") as s3:
        queue = await AsyncSQSQueue.ensure(f"bench-{uuid4().hex[:8]}", sqs)

        async def round_trip() -> None:
            await queue.send("m")
            [message] = await queue.receive()
            await queue.delete(message.receipt_handle)

        await round_trip()  # connections warm
        round_trips = [await atimed(round_trip()) for _ in range(rounds)]
        bodies = [f"b{i}" for i in range(concurrent)]
        gathered = await atimed(asyncio.gather(*(queue.send(b) for b in bodies)))
        batched = await atimed(queue.send_batch(bodies))

        store = AsyncS3ArtifactStore(s3)
        uris = [f"s3://{bucket}/async/{index}" for index in range(rounds)]
        puts = [await atimed(store.put_bytes(uri, data)) for uri in uris]
        gets = [await atimed(store.get_bytes(uri)) for uri in uris]
        many_puts = await atimed(
            asyncio.gather(
                *(store.put_bytes(f"s3://{bucket}/amany/{i}", data) for i in range(concurrent))
            )
        )
    mb = len(data) // 1_000_000
    return [
        ("SQS send+receive+delete, async (median ms)", 1000 * statistics.median(round_trips)),
        (f"SQS {concurrent} sends, async gather (ms)", 1000 * gathered),
        (f"SQS {concurrent} sends, async send_batch (ms)", 1000 * batched),
        (f"S3 put {mb} MB, async (median ms)", 1000 * statistics.median(puts)),
        (f"S3 get {mb} MB, async (median ms)", 1000 * statistics.median(gets)),
        (f"S3 {concurrent} puts, async gather (ms)", 1000 * many_puts),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--mb", type=int, default=1)
    args = parser.parse_args()
    print(f"cpu pressure: {pressure()}")
    data = os.urandom(args.mb * 1_000_000)
    with moto_server() as endpoint:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_REGION": "us-east-1",
            }
        )
        client("s3")  # load the models before any clock starts
        bucket = f"bench-{uuid4().hex[:8]}"
        rows = sync_rows(args.rounds, args.concurrent, data, bucket)
        rows += asyncio.run(async_rows(args.rounds, args.concurrent, data, bucket))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:9.1f}")
    print(f"cpu pressure: {pressure()}")


if __name__ == "__main__":
    main()
