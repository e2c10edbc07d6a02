"""AsyncS3ArtifactStore (aioboto3) on the moto server: multipart, trees, bad input.

The port-level behaviour runs in the artifact-store contract (`[s3-async]`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from boto3.s3.transfer import TransferConfig

from receipts.adapters.aws_clients import async_client
from receipts.adapters.s3.async_artifact_store import AsyncS3ArtifactStore
from receipts.adapters.s3.errors import BucketMissing
from receipts.application.ports.artifact_store import ArtifactNotFound, AsyncArtifactStore
from receipts.domain.artifacts import InvalidArtifactURI

T = TypeVar("T")
MiB = 1024 * 1024
SMALL_PARTS = TransferConfig(multipart_threshold=6 * MiB, multipart_chunksize=5 * MiB)


def with_store(bucket: str | None, test: Callable[[AsyncS3ArtifactStore], Awaitable[T]]) -> T:
    async def main() -> T:
        async with async_client("s3") as s3:
            store = AsyncS3ArtifactStore(s3, transfer=SMALL_PARTS)
            if bucket is not None:
                await store.create_bucket(bucket)
            return await test(store)

    return asyncio.run(main())


def test_implements_the_async_port(aws_env: dict[str, str]) -> None:
    async def test(store: AsyncS3ArtifactStore) -> None:
        assert isinstance(store, AsyncArtifactStore)

    with_store(None, test)


def test_missing_bucket_is_named(aws_env: dict[str, str], unique_name: str, tmp_path: Path) -> None:
    uri = f"s3://{unique_name}/a/b.bin"
    (tmp_path / "x.bin").write_bytes(b"x")

    async def test(store: AsyncS3ArtifactStore) -> None:
        calls: list[Awaitable[object]] = [
            store.put_bytes(uri, b"x"),
            store.get_bytes(uri),
            store.exists(uri),
            store.list(f"s3://{unique_name}/"),
            store.delete(uri),
            store.upload_file(tmp_path / "x.bin", uri),
            store.download_file(uri, tmp_path / "out.bin"),
            store.upload_dir(tmp_path, f"s3://{unique_name}/d/"),
        ]
        for call in calls:
            with pytest.raises(BucketMissing, match=f"'{unique_name}' does not exist"):
                await call

    with_store(None, test)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_large_file_goes_up_in_parts_and_round_trips(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    data = os.urandom(11 * MiB + 7)
    (tmp_path / "model.bin").write_bytes(data)
    uri = f"s3://{unique_name}/runs/model.bin"

    async def test(store: AsyncS3ArtifactStore) -> None:
        await store.upload_file(tmp_path / "model.bin", uri)
        head = await store.s3.head_object(Bucket=unique_name, Key="runs/model.bin")
        assert head["ETag"].strip('"').endswith("-3")  # three parts
        await store.download_file(uri, tmp_path / "back" / "model.bin")

    with_store(unique_name, test)
    assert (tmp_path / "back" / "model.bin").read_bytes() == data
    assert [p.name for p in (tmp_path / "back").iterdir()] == ["model.bin"]


def test_missing_key_and_missing_file(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    uri = f"s3://{unique_name}/none.bin"

    async def test(store: AsyncS3ArtifactStore) -> None:
        with pytest.raises(ArtifactNotFound, match=uri):
            await store.download_file(uri, tmp_path / "none.bin")
        with pytest.raises(ArtifactNotFound, match=uri):
            await store.get_bytes(uri)
        with pytest.raises(FileNotFoundError):
            await store.upload_file(tmp_path / "absent.bin", uri)
        assert not await store.exists(uri)

    with_store(unique_name, test)
    assert list(tmp_path.iterdir()) == []


def test_trees_round_trip_concurrently(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    files = {f"a/b{i % 3}/c{i}.bin": os.urandom(100 + i) for i in range(30)}
    for relative, data in files.items():
        (tmp_path / "src" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / relative).write_bytes(data)
    prefix = f"s3://{unique_name}/bundles/v1/"

    async def test(store: AsyncS3ArtifactStore) -> list[Path]:
        uploaded = await store.upload_dir(tmp_path / "src", prefix)
        assert uploaded == [prefix + k for k in sorted(files)]
        return await store.download_dir(prefix, tmp_path / "dst")

    written = with_store(unique_name, test)
    assert sorted(written) == sorted(tmp_path / "dst" / k for k in files)
    for relative, data in files.items():
        assert (tmp_path / "dst" / relative).read_bytes() == data


def test_download_dir_refuses_escaping_keys_before_writing(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    async def test(store: AsyncS3ArtifactStore) -> None:
        await store.put_bytes(f"s3://{unique_name}/bundle/a.txt", b"fine")
        await store.s3.put_object(Bucket=unique_name, Key="bundle/../../x.txt", Body=b"planted")
        with pytest.raises(InvalidArtifactURI, match=r"bundle/\.\./\.\./x\.txt"):
            await store.download_dir(f"s3://{unique_name}/bundle/", tmp_path / "out")

    with_store(unique_name, test)
    assert list(tmp_path.iterdir()) == []


def test_invalid_uris_are_refused(aws_env: dict[str, str]) -> None:
    async def test(store: AsyncS3ArtifactStore) -> None:
        for uri, problem in [
            ("s3:///key", "no bucket"),
            ("s3://bucket/a/../b", r"'\.\.' segments"),
            ("memory://bucket/key", "s3://"),
            ("s3://bucket/dir/", "prefix"),
        ]:
            with pytest.raises(InvalidArtifactURI, match=problem):
                await store.put_bytes(uri, b"x")

    with_store(None, test)


def test_empty_objects_round_trip(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    uri = f"s3://{unique_name}/empty.txt"

    async def test(store: AsyncS3ArtifactStore) -> bytes:
        await store.upload_file(tmp_path / "empty.txt", uri)
        await store.download_file(uri, tmp_path / "out" / "empty.txt")
        return await store.get_bytes(uri)

    assert with_store(unique_name, test) == b""
    assert (tmp_path / "out" / "empty.txt").read_bytes() == b""
