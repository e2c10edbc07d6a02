"""S3 requests answered with SlowDown or a server error: retried with backoff, and a
multipart upload that fails for good leaves no object and no unfinished upload behind.

A fault proxy in front of the moto server answers chosen requests; the clients are the
real ones (boto3 and aioboto3), built by `aws_clients`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from tests.aws.fault_proxy import Fault, FaultProxy, Request, s3_slow_down

from receipts.adapters.aws_clients import async_client, client, retry_config
from receipts.adapters.s3.artifact_store import S3ArtifactStore
from receipts.adapters.s3.async_artifact_store import AsyncS3ArtifactStore

MiB = 1024 * 1024
SMALL_PARTS = TransferConfig(
    multipart_threshold=6 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2
)


def puts_of(key: str) -> Callable[[Request], bool]:
    return lambda r: r.method == "PUT" and r.path.split("?")[0].endswith(f"/{key}")


def second_part(request: Request) -> bool:
    return request.method == "PUT" and "partNumber=2" in request.query


PART_FAILS = Fault(
    second_part,
    500,
    b"<Error><Code>InternalError</Code><Message>Internal error.</Message></Error>",
    {"Content-Type": "application/xml"},
)


@pytest.fixture
def bucket(aws_env: dict[str, str], unique_name: str) -> str:
    S3ArtifactStore().create_bucket(unique_name)
    return unique_name


def test_slow_down_is_retried(aws_env: dict[str, str], moto_endpoint: str, bucket: str) -> None:
    with FaultProxy(moto_endpoint, [s3_slow_down(puts_of("k.bin"), times=2)]) as proxy:
        store = S3ArtifactStore(client("s3", {**aws_env, "AWS_ENDPOINT_URL": proxy.url}))

        store.put_bytes(f"s3://{bucket}/k.bin", b"data")

        assert proxy.answered(puts_of("k.bin")) == [503, 503, 200]
    assert S3ArtifactStore().get_bytes(f"s3://{bucket}/k.bin") == b"data"


def no_trace_of(key: str, bucket: str) -> None:
    s3 = client("s3")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], key


def test_failed_multipart_upload_is_aborted(
    aws_env: dict[str, str], moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(11 * MiB))
    with FaultProxy(moto_endpoint, [PART_FAILS]) as proxy:
        s3 = client("s3", {**aws_env, "AWS_ENDPOINT_URL": proxy.url}, retry_config(2))
        store = S3ArtifactStore(s3, transfer=SMALL_PARTS)

        with pytest.raises(S3UploadFailedError, match="InternalError"):
            store.upload_file(tmp_path / "big.bin", f"s3://{bucket}/big.bin")

        assert proxy.answered(second_part) == [500, 500]
    no_trace_of("big.bin", bucket)


def test_failed_async_multipart_upload_is_aborted(
    aws_env: dict[str, str], moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(11 * MiB))

    async def main(proxy_url: str) -> None:
        env = {**aws_env, "AWS_ENDPOINT_URL": proxy_url}
        async with async_client("s3", env, retry_config(2)) as s3:
            store = AsyncS3ArtifactStore(s3, transfer=SMALL_PARTS)
            with pytest.raises(ClientError, match="InternalError"):
                await store.upload_file(tmp_path / "big.bin", f"s3://{bucket}/big.bin")

    with FaultProxy(moto_endpoint, [PART_FAILS]) as proxy:
        asyncio.run(main(proxy.url))

        assert proxy.answered(second_part) == [500, 500]
    no_trace_of("big.bin", bucket)
