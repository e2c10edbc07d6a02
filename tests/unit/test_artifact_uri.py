"""Artifact URIs: parse, join, prefixes, and what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI
from receipts.domain.export_job import ExportRequest


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("s3://receipts-models/runs/job/best/", ("s3", "receipts-models", "runs/job/best/")),
        ("memory://receipts/images/1.png", ("memory", "receipts", "images/1.png")),
        ("file:///tmp/runs/x", ("file", "", "tmp/runs/x")),
        ("file://localhost/tmp/x", ("file", "", "tmp/x")),
        ("s3://bucket", ("s3", "bucket", "")),
    ],
)
def test_parse_splits_scheme_bucket_and_key(text: str, parts: tuple[str, str, str]) -> None:
    uri = ArtifactURI.parse(text)
    assert (uri.scheme, uri.bucket, uri.key) == parts


@pytest.mark.parametrize(
    "text", ["s3://receipts-models/runs/job/best/", "file:///tmp/runs/x", "memory://b/k"]
)
def test_a_parsed_uri_prints_as_it_was_written(text: str) -> None:
    assert str(ArtifactURI.parse(text)) == text


def test_join_puts_parts_under_the_uri() -> None:
    runs = ArtifactURI.parse("s3://bucket/runs/")

    assert str(runs.join("x", "y.bin")) == "s3://bucket/runs/x/y.bin"
    assert str(runs.join("/x/", "", "/y/")) == "s3://bucket/runs/x/y"
    assert str(ArtifactURI.parse("s3://bucket").join("a")) == "s3://bucket/a"
    assert str(ArtifactURI.parse("file:///").join("tmp", "a")) == "file:///tmp/a"


def test_join_refuses_to_climb_out() -> None:
    with pytest.raises(InvalidArtifactURI, match=r"'\.\.'"):
        ArtifactURI.parse("s3://bucket/runs/").join("..", "secrets")


def test_as_prefix_adds_one_trailing_slash() -> None:
    uri = ArtifactURI.parse("s3://bucket/runs/job")

    assert not uri.is_prefix
    assert str(uri.as_prefix()) == "s3://bucket/runs/job/"
    assert uri.as_prefix().is_prefix
    assert uri.as_prefix().as_prefix() == uri.as_prefix()
    assert ArtifactURI.parse("s3://bucket").is_prefix


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("bucket/key", "not a URI"),
        ("http://bucket/key", "unknown scheme 'http'"),
        ("file://host/tmp/x", "absolute path"),
        ("s3:///key", "names no bucket"),
        ("memory:///key", "names no bucket"),
        ("s3://Bad_Bucket/key", "not a valid S3 bucket name"),
        ("s3://ab/key", "not a valid S3 bucket name"),
        ("s3://bucket/runs/../secrets", "segments are not allowed"),
        ("s3://bucket/./runs", "segments are not allowed"),
        ("memory://bucket/a\x00b", "NUL byte"),
    ],
)
def test_bad_uris_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidArtifactURI, match=why):
        ArtifactURI.parse(text)


def test_a_refused_uri_is_a_value_error() -> None:
    assert issubclass(InvalidArtifactURI, ValueError)


def test_uri_fields_of_value_objects_are_checked() -> None:
    with pytest.raises(ValidationError, match="checkpoint_uri"):
        ExportRequest(checkpoint_uri="ftp://x/y", output_prefix="s3://bucket/out/")
