"""Artifact URIs: where checkpoints, bundles, images and results live."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict

SCHEMES = ("s3", "file", "memory")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class InvalidArtifactURI(ValueError):
    """The text is not a URI the artifact stores understand."""


def _check_uri(text: str) -> str:
    ArtifactURI.parse(text)
    return text


class ArtifactURI(BaseModel):
    """A parsed `scheme://bucket/key` URI.

    `file://` URIs carry an absolute path (`file:///tmp/x` has bucket "" and key
    "tmp/x"). A key ending in `/` names a prefix (a directory tree).
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    scheme: str
    bucket: str
    key: str

    @staticmethod
    def parse(text: str) -> ArtifactURI:
        return _parse_cached(text)

    @classmethod
    def _parse(cls, text: str) -> Self:
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise InvalidArtifactURI(f"{text!r} is not a URI: expected scheme://bucket/key")
        if scheme not in SCHEMES:
            raise InvalidArtifactURI(
                f"{text!r} has unknown scheme {scheme!r}: expected one of {', '.join(SCHEMES)}"
            )
        bucket, _, key = rest.partition("/")
        if scheme == "file":
            if bucket not in ("", "localhost"):
                raise InvalidArtifactURI(f"{text!r}: file URIs need an absolute path (file:///...)")
            bucket = ""
        elif not bucket:
            raise InvalidArtifactURI(f"{text!r} names no bucket")
        if scheme == "s3" and not _S3_BUCKET.match(bucket):
            raise InvalidArtifactURI(f"{text!r}: {bucket!r} is not a valid S3 bucket name")
        if any(part in ("..", ".") for part in key.split("/")):
            raise InvalidArtifactURI(f"{text!r}: '.' and '..' segments are not allowed")
        if "\x00" in key:
            raise InvalidArtifactURI(f"{text!r}: NUL byte in key")
        return cls(scheme=scheme, bucket=bucket, key=key)

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def join(self, *parts: str) -> ArtifactURI:
        """A URI under this one: `s3://b/runs/` joined with `x`, `y.bin` is `s3://b/runs/x/y.bin`."""
        key = self.key.rstrip("/")
        for part in parts:
            part = part.strip("/")
            if part:
                key = f"{key}/{part}" if key else part
        return ArtifactURI.parse(f"{self.scheme}://{self.bucket}/{key}")

    def as_prefix(self) -> ArtifactURI:
        if self.is_prefix:
            return self
        return type(self)(scheme=self.scheme, bucket=self.bucket, key=self.key + "/")

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> ArtifactURI:
    # URIs are frozen: one parse serves every event, message and store call that names it
    return ArtifactURI._parse(text)


URIText = Annotated[str, AfterValidator(_check_uri)]
"""A string field that must hold a valid artifact URI."""
