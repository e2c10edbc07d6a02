"""The AsyncArtifactStore port on Amazon S3 (aioboto3), for asyncio workers.

Same URIs, errors and guarantees as `S3ArtifactStore`; files above the transfer
threshold go up in concurrent multipart parts and come down in concurrent ranged GETs.
The aioboto3 client is the caller's: `async with async_client("s3") as s3: ...`.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from receipts.adapters.local.artifact_store import walk_files
from receipts.adapters.s3.artifact_store import TRANSFER
from receipts.adapters.s3.errors import BucketMissing, error_code, is_missing_bucket, is_missing_key
from receipts.adapters.s3.uris import SCHEME, download_targets, object_location, prefix_uri
from receipts.application.ports.artifact_store import PUBLISHED_MARKER, ArtifactNotFound

__all__ = ["AsyncS3ArtifactStore"]


class AsyncS3ArtifactStore:
    scheme = SCHEME

    def __init__(self, s3: Any, transfer: TransferConfig = TRANSFER, concurrency: int = 8) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.s3 = s3
        self.transfer = transfer
        self._files = asyncio.Semaphore(concurrency)  # files in flight in upload/download_dir

    def __repr__(self) -> str:
        return f"AsyncS3ArtifactStore({self.s3.meta.endpoint_url!r})"

    async def create_bucket(self, bucket: str) -> None:
        """Creates the bucket if missing: for tests and development."""
        try:
            await self.s3.create_bucket(Bucket=bucket)
        except ClientError as error:
            if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def put_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = object_location(uri)
        await self._call(bucket, "put_object", Bucket=bucket, Key=key, Body=data)

    async def get_bytes(self, uri: str) -> bytes:
        bucket, key = object_location(uri)
        try:
            response = await self._call(bucket, "get_object", Bucket=bucket, Key=key)
        except ClientError as error:
            if is_missing_key(error):
                raise ArtifactNotFound(uri) from None
            raise
        async with response["Body"] as stream:
            body: bytes = await stream.read()
        return body

    async def exists(self, uri: str) -> bool:
        bucket, key = object_location(uri)
        try:
            await self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if is_missing_key(error):
                await self._check_bucket(bucket)
                return False
            raise
        return True

    async def list(self, prefix: str) -> builtins.list[str]:
        base = prefix_uri(prefix)
        paginator = self.s3.get_paginator("list_objects_v2")
        found: builtins.list[str] = []
        try:
            async for page in paginator.paginate(Bucket=base.bucket, Prefix=base.key):
                found += [f"s3://{base.bucket}/{item['Key']}" for item in page.get("Contents", [])]
        except ClientError as error:
            if is_missing_bucket(error):
                raise BucketMissing(base.bucket) from None
            raise
        return sorted(found)

    async def delete(self, uri: str) -> None:
        bucket, key = object_location(uri)
        await self._call(bucket, "delete_object", Bucket=bucket, Key=key)

    async def upload_file(self, path: Path, uri: str) -> None:
        bucket, key = object_location(uri)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} is not a file")
        await self._call(bucket, "upload_file", str(path), bucket, key, Config=self.transfer)

    async def download_file(self, uri: str, path: Path) -> None:
        bucket, key = object_location(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".~partial-{path.name}.{uuid.uuid4().hex}")
        try:
            await self._call(
                bucket, "download_file", bucket, key, str(partial), Config=self.transfer
            )
            partial.replace(path)
        except ClientError as error:
            if is_missing_key(error):
                await self._check_bucket(bucket)
                raise ArtifactNotFound(uri) from None
            raise
        finally:
            partial.unlink(missing_ok=True)

    async def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]:
        """Uploads the files concurrently; if one fails, the others still finish first."""
        base = prefix_uri(prefix)
        jobs = [(str(base.join(relative)), path) for relative, path in walk_files(directory)]
        await self._each(self.upload_file(path, uri) for uri, path in jobs)
        return [uri for uri, _ in jobs]

    async def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]:
        targets = download_targets(prefix_uri(prefix), await self.list(prefix), directory)
        await self._each(self.download_file(uri, target) for uri, target in targets)
        return [target for _, target in targets]

    async def publish_dir(self, staging: str, prefix: str) -> bool:
        """As `S3ArtifactStore.publish_dir`: manifest-last."""
        source, target = str(prefix_uri(staging)), str(prefix_uri(prefix))
        names = [uri.removeprefix(source) for uri in await self.list(source)]
        if PUBLISHED_MARKER not in names:
            return False
        marker = target + PUBLISHED_MARKER
        staged_marker = await self.get_bytes(source + PUBLISHED_MARKER)
        if not (await self.exists(marker) and await self.get_bytes(marker) == staged_marker):
            await self.delete(marker)
            rest = [name for name in names if name != PUBLISHED_MARKER]
            await self._each(self._copy(source + name, target + name) for name in rest)
            stale = set(await self.list(target)) - {target + name for name in names}
            await self._each(self.delete(uri) for uri in sorted(stale))
            await self._copy(source + PUBLISHED_MARKER, marker)
        await self.delete_dir(source)
        return True

    async def delete_dir(self, prefix: str) -> None:
        await self._each(self.delete(uri) for uri in await self.list(prefix))

    async def _copy(self, source: str, target: str) -> None:
        source_bucket, source_key = object_location(source)
        bucket, key = object_location(target)
        copy_source = {"Bucket": source_bucket, "Key": source_key}
        await self._call(bucket, "copy", copy_source, bucket, key, Config=self.transfer)

    async def _each(self, transfers: Any) -> None:
        async def bounded(transfer: Any) -> None:
            async with self._files:
                await transfer

        results = await asyncio.gather(*(bounded(t) for t in transfers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _check_bucket(self, bucket: str) -> None:
        try:
            await self.s3.head_bucket(Bucket=bucket)
        except ClientError as error:
            if is_missing_key(error) or is_missing_bucket(error):
                raise BucketMissing(bucket) from None
            raise

    async def _call(self, bucket: str, operation: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await getattr(self.s3, operation)(*args, **kwargs)
        except ClientError as error:
            if is_missing_bucket(error):
                raise BucketMissing(bucket) from None
            raise
