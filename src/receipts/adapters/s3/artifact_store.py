"""The ArtifactStore port on Amazon S3 (boto3), multipart for large files."""

from __future__ import annotations

import builtins
import uuid
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from receipts.adapters.dynamodb.clients import client
from receipts.adapters.local.artifact_store import walk_files
from receipts.application.ports.artifact_store import ArtifactNotFound
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI

TRANSFER = TransferConfig(
    multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024
)


class BucketMissing(LookupError):
    def __init__(self, bucket: str) -> None:
        super().__init__(f"S3 bucket {bucket!r} does not exist")
        self.bucket = bucket


class S3ArtifactStore:
    scheme = "s3"

    def __init__(self, s3: Any | None = None, transfer: TransferConfig = TRANSFER) -> None:
        self.s3 = s3 or client("s3")
        self.transfer = transfer

    def create_bucket(self, bucket: str) -> None:
        """Creates the bucket if missing: for tests and development."""
        try:
            self.s3.create_bucket(Bucket=bucket)
        except ClientError as error:
            if _code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def put_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = self._object(uri)
        self._call(bucket, "put_object", Bucket=bucket, Key=key, Body=data)

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = self._object(uri)
        try:
            body: bytes = self._call(bucket, "get_object", Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                raise ArtifactNotFound(uri) from None
            raise
        return body

    def exists(self, uri: str) -> bool:
        bucket, key = self._object(uri)
        try:
            self._call(bucket, "head_object", Bucket=bucket, Key=key)
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list(self, prefix: str) -> builtins.list[str]:
        base = self._uri(prefix).as_prefix()
        paginator = self.s3.get_paginator("list_objects_v2")
        found = []
        try:
            for page in paginator.paginate(Bucket=base.bucket, Prefix=base.key):
                found += [f"s3://{base.bucket}/{item['Key']}" for item in page.get("Contents", [])]
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                raise BucketMissing(base.bucket) from None
            raise
        return sorted(found)

    def delete(self, uri: str) -> None:
        bucket, key = self._object(uri)
        self._call(bucket, "delete_object", Bucket=bucket, Key=key)

    def upload_file(self, path: Path, uri: str) -> None:
        bucket, key = self._object(uri)
        try:
            self.s3.upload_file(str(path), bucket, key, Config=self.transfer)
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                raise BucketMissing(bucket) from None
            raise
        except Exception as error:  # boto3's transfer wraps ClientError
            if "NoSuchBucket" in str(error):
                raise BucketMissing(bucket) from None
            raise

    def download_file(self, uri: str, path: Path) -> None:
        bucket, key = self._object(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".~partial-{path.name}.{uuid.uuid4().hex}")
        try:
            self.s3.download_file(bucket, key, str(partial), Config=self.transfer)
            partial.replace(path)
        except ClientError as error:
            partial.unlink(missing_ok=True)
            if _code(error) in ("404", "NoSuchKey"):
                raise ArtifactNotFound(uri) from None
            raise
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def upload_dir(self, directory: Path, prefix: str) -> builtins.list[str]:
        base = self._uri(prefix).as_prefix()
        written = []
        for relative, path in walk_files(directory):
            uri = str(base.join(relative))
            self.upload_file(path, uri)
            written.append(uri)
        return written

    def download_dir(self, prefix: str, directory: Path) -> builtins.list[Path]:
        base = str(self._uri(prefix).as_prefix())
        written = []
        for uri in self.list(prefix):
            relative = uri.removeprefix(base)
            if not relative or relative.endswith("/"):
                continue
            target = (directory / relative).resolve()
            if not target.is_relative_to(directory.resolve()):
                raise InvalidArtifactURI(f"{uri} would be written outside {directory}")
            self.download_file(uri, target)
            written.append(target)
        return written

    def _uri(self, uri: str) -> ArtifactURI:
        parsed = ArtifactURI.parse(uri)
        if parsed.scheme != "s3":
            raise InvalidArtifactURI(f"{uri}: the S3 store takes s3:// URIs")
        return parsed

    def _object(self, uri: str) -> tuple[str, str]:
        parsed = self._uri(uri)
        if parsed.is_prefix:
            raise InvalidArtifactURI(f"{uri} names a prefix, not an object")
        return parsed.bucket, parsed.key

    def _call(self, bucket: str, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.s3, operation)(**kwargs)
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                raise BucketMissing(bucket) from None
            raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
