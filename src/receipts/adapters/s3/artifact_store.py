"""The ArtifactStore port on Amazon S3 (boto3), multipart for large files."""

from __future__ import annotations

import builtins
import io
import uuid
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from receipts.adapters.aws_clients import client
from receipts.adapters.local.artifact_store import upload_each
from receipts.adapters.s3.errors import (
    BucketMissing,
    error_code,
    is_missing_bucket,
    is_missing_key,
)
from receipts.adapters.s3.uris import SCHEME, download_targets, object_location, prefix_uri
from receipts.application.ports.artifact_store import PUBLISHED_MARKER, ArtifactNotFound

__all__ = ["TRANSFER", "BucketMissing", "S3ArtifactStore"]

TRANSFER = TransferConfig(
    multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024
)
"""Files from 64 MiB on go up in 16 MiB parts (S3's minimum part is 5 MiB)."""


class S3ArtifactStore:
    """Artifacts under `s3://bucket/key` URIs.

    A missing bucket raises BucketMissing naming it; a missing key ArtifactNotFound
    naming the URI. Objects are written whole (S3 shows a multipart upload only once it
    completes, and a failed one is aborted), and downloads go to a temporary sibling
    that is renamed into place, so no reader sees a partial file.
    """

    scheme = SCHEME

    def __init__(self, s3: Any | None = None, transfer: TransferConfig = TRANSFER) -> None:
        self.s3 = s3 or client("s3")
        self.transfer = transfer

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.s3.meta.endpoint_url!r})"

    def create_bucket(self, bucket: str) -> None:
        """Creates the bucket if missing: for tests and development."""
        try:
            self.s3.create_bucket(Bucket=bucket)
        except ClientError as error:
            if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def put_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = object_location(uri)
        if len(data) < self.transfer.multipart_threshold:
            self._call(bucket, "put_object", Bucket=bucket, Key=key, Body=data)
        else:
            self._transfer(bucket, "upload_fileobj", io.BytesIO(data), bucket, key)

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = object_location(uri)
        try:
            response = self._call(bucket, "get_object", Bucket=bucket, Key=key)
        except ClientError as error:
            if is_missing_key(error):
                raise ArtifactNotFound(uri) from None
            raise
        body: bytes = response["Body"].read()
        return body

    def exists(self, uri: str) -> bool:
        bucket, key = object_location(uri)
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if is_missing_key(error):
                self._check_bucket(bucket)
                return False
            raise
        return True

    def list(self, prefix: str) -> builtins.list[str]:
        base = prefix_uri(prefix)
        paginator = self.s3.get_paginator("list_objects_v2")
        found = []
        try:
            for page in paginator.paginate(Bucket=base.bucket, Prefix=base.key):
                found += [f"s3://{base.bucket}/{item['Key']}" for item in page.get("Contents", [])]
        except ClientError as error:
            if is_missing_bucket(error):
                raise BucketMissing(base.bucket) from None
            raise
        return sorted(found)

    def delete(self, uri: str) -> None:
        bucket, key = object_location(uri)
        self._call(bucket, "delete_object", Bucket=bucket, Key=key)

    def upload_file(self, path: Path, uri: str) -> None:
        bucket, key = object_location(uri)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} is not a file")
        self._transfer(bucket, "upload_file", str(path), bucket, key)

    def download_file(self, uri: str, path: Path) -> None:
        bucket, key = object_location(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".~partial-{path.name}.{uuid.uuid4().hex}")
        try:
            self._transfer(bucket, "download_file", bucket, key, str(partial))
            partial.replace(path)
        except ClientError as error:
            if is_missing_key(error):
                self._check_bucket(bucket)
                raise ArtifactNotFound(uri) from None
            raise
        finally:
            partial.unlink(missing_ok=True)

    def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]:
        return upload_each(self.upload_file, directory, prefix_uri(prefix))

    def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]:
        base = prefix_uri(prefix)
        targets = download_targets(base, self.list(prefix), directory)
        for uri, target in targets:
            self.download_file(uri, target)
        return [target for _, target in targets]

    def publish_dir(self, staging: str, prefix: str) -> bool:
        """Manifest-last: the old tree's marker goes first (it stops looking published),
        then the staged objects are copied, objects of the old tree that the new one lacks
        deleted, the marker copied last and the staging deleted. A staging without the
        marker is incomplete: never published."""
        source, target = str(prefix_uri(staging)), str(prefix_uri(prefix))
        names = [uri.removeprefix(source) for uri in self.list(source)]
        if PUBLISHED_MARKER not in names:
            return False
        marker = target + PUBLISHED_MARKER
        staged_marker = self.get_bytes(source + PUBLISHED_MARKER)
        if not (self.exists(marker) and self.get_bytes(marker) == staged_marker):
            self.delete(marker)
            for name in names:
                if name != PUBLISHED_MARKER:
                    self._copy(source + name, target + name)
            stale = set(self.list(target)) - {target + name for name in names}
            self._delete_each(sorted(stale))
            self._copy(source + PUBLISHED_MARKER, marker)
        self.delete_dir(source)
        return True

    def delete_dir(self, prefix: str) -> None:
        self._delete_each(self.list(prefix))

    def _delete_each(self, uris: builtins.list[str]) -> None:
        for start in range(0, len(uris), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [object_location(uri) for uri in uris[start : start + 1000]]
            bucket = batch[0][0]
            self._call(
                bucket,
                "delete_objects",
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for _, key in batch], "Quiet": True},
            )

    def _copy(self, source: str, target: str) -> None:
        """A server-side copy (multipart when large)."""
        source_bucket, source_key = object_location(source)
        bucket, key = object_location(target)
        self._transfer(bucket, "copy", {"Bucket": source_bucket, "Key": source_key}, bucket, key)

    def _check_bucket(self, bucket: str) -> None:
        """Raises BucketMissing if `bucket` is gone (after a bare 404 that could mean either)."""
        try:
            self.s3.head_bucket(Bucket=bucket)
        except ClientError as error:
            if is_missing_key(error) or is_missing_bucket(error):
                raise BucketMissing(bucket) from None
            raise

    def _call(self, bucket: str, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.s3, operation)(**kwargs)
        except ClientError as error:
            if is_missing_bucket(error):
                raise BucketMissing(bucket) from None
            raise

    def _transfer(self, bucket: str, operation: str, *args: Any) -> None:
        """A managed (multipart when large) transfer; boto3 wraps upload errors in its own type."""
        try:
            getattr(self.s3, operation)(*args, Config=self.transfer)
        except S3UploadFailedError as error:
            if "NoSuchBucket" in str(error):
                raise BucketMissing(bucket) from None
            raise
        except ClientError as error:
            if is_missing_bucket(error):
                raise BucketMissing(bucket) from None
            raise
