"""Errors of the S3 adapters (sync and async share them), and the ClientError codes behind them."""

from __future__ import annotations

from botocore.exceptions import ClientError

from receipts.application.ports.resources import ResourceMissing

__all__ = ["BucketMissing", "error_code", "is_missing_bucket", "is_missing_key"]


class BucketMissing(ResourceMissing):
    def __init__(self, bucket: str) -> None:
        super().__init__(f"S3 bucket {bucket!r} does not exist")
        self.bucket = bucket


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing_bucket(error: ClientError) -> bool:
    return error_code(error) == "NoSuchBucket"


def is_missing_key(error: ClientError) -> bool:
    """HEAD requests have no body, so a missing key and a missing bucket both read "404"."""
    return error_code(error) in ("NoSuchKey", "404", "NotFound")
