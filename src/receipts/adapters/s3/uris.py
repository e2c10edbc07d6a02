"""s3:// URIs as the S3 stores take them, and where downloaded keys may be written."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from receipts.adapters.local.artifact_store import parse_object_uri, parse_uri
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI

__all__ = ["SCHEME", "download_targets", "object_location", "prefix_uri"]

SCHEME = "s3"


def object_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of a URI naming one object; InvalidArtifactURI for anything else."""
    parsed = parse_object_uri(uri, SCHEME)
    return parsed.bucket, parsed.key


def prefix_uri(uri: str) -> ArtifactURI:
    """The URI as a prefix (`s3://b/runs` is `s3://b/runs/`)."""
    return parse_uri(uri, SCHEME).as_prefix()


def download_targets(
    prefix: ArtifactURI, uris: Iterable[str], directory: Path
) -> list[tuple[str, Path]]:
    """(uri, local path) for each object under `prefix`, all checked before any is written.

    Keys whose rest after the prefix has empty, `.` or `..` segments, or that would
    resolve (through symlinks too) outside `directory`, are refused: a bucket is not
    trusted to name local paths. "Folder" marker keys ending in `/` are skipped.
    """
    base = str(prefix)
    root = directory.resolve()
    targets = []
    for uri in uris:
        relative = uri.removeprefix(base)
        if not relative or relative.endswith("/"):
            continue
        parts = relative.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise InvalidArtifactURI(
                f"{uri}: key has an empty, '.' or '..' segment after {base}: refused"
            )
        target = root.joinpath(*parts).resolve()
        if not target.is_relative_to(root):
            raise InvalidArtifactURI(f"{uri} would be written outside {directory}")
        targets.append((uri, target))
    return targets
