"""The one place a model URI becomes a local directory, for every consumer (the OCR worker,
the inference Lambdas, `inference-report`, the export worker).

A model is a local directory or `file://` URI (used where it is), a prefix in the artifact
store (`s3://bucket/runs/job/best/`, `memory://...`: its files are downloaded), or one
archive object (SageMaker's `model.tar.gz`: downloaded and unpacked by the safe extractor).
An archive holding one folder (`model/...`) stands for that folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from receipts.application.ports.archives import ArchiveExtractor, ArchiveRefused
from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore
from receipts.application.ports.predictor import ModelUnusable
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI
from receipts.domain.export_job import ARCHIVE_SUFFIXES


def is_archive(uri: str) -> bool:
    """Whether `uri` names one archive object (`.../model.tar.gz`), not a prefix."""
    if "://" not in uri:
        return uri.lower().endswith(ARCHIVE_SUFFIXES)
    parsed = ArtifactURI.parse(uri)
    return not parsed.is_prefix and parsed.key.lower().endswith(ARCHIVE_SUFFIXES)


def is_remote(uri: str) -> bool:
    """A URI of the artifact store (not a local path or `file://`)."""
    return "://" in uri and not uri.startswith("file://")


def fetch_model(
    artifacts: ArtifactStore, uri: str, target: Path, extractor: ArchiveExtractor | None
) -> Path:
    """Downloads the model at the remote `uri` into the empty directory `target` (an archive
    is unpacked there); returns the model's directory. Raises ModelUnusable naming why, or
    ArchiveRefused (an unsafe or damaged archive)."""
    parsed = _parse(uri)
    target.mkdir(parents=True, exist_ok=True)
    try:
        if not is_archive(uri):
            if not artifacts.download_dir(str(parsed.as_prefix()), target):
                raise ModelUnusable(uri, "no model files under it")
            return target
        with tempfile.TemporaryDirectory(prefix=".archive-", dir=target.parent) as downloads:
            archive = Path(downloads) / parsed.key.rsplit("/", 1)[-1]
            artifacts.download_file(uri, archive)
            _unpack(uri, archive, target, extractor)
    except ArtifactNotFound:
        raise ModelUnusable(uri, "no such archive") from None
    except InvalidArtifactURI as error:  # a URI of another store (s3:// in local mode)
        raise ModelUnusable(uri, str(error)) from None
    return model_root(target)


def unpack_local(uri: str, target: Path, extractor: ArchiveExtractor | None) -> Path:
    """Unpacks the local archive `uri` (a path or `file://`) into `target`; its model dir."""
    archive = local_path(uri)
    if not archive.is_file():
        raise ModelUnusable(uri, "no such archive")
    target.mkdir(parents=True, exist_ok=True)
    _unpack(uri, archive, target, extractor)
    return model_root(target)


def local_path(uri: str) -> Path:
    """The path of a local model: a path as given (`~` expanded) or a `file://` URI."""
    if "://" not in uri:
        return Path(uri).expanduser()
    return Path("/" + _parse(uri).key)


def model_root(directory: Path) -> Path:
    """`directory`, or its one folder when that is all it holds (dot entries aside)."""
    try:
        with os.scandir(directory) as entries:
            visible = [entry for entry in entries if not entry.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return directory
    if len(visible) == 1 and visible[0].is_dir():
        return directory / visible[0].name
    return directory


class ModelDirectories:
    """`local_directory(uri)`: the model at `uri` as a local directory. Remote models and
    archives are fetched once into `cache_dir`, under a name drawn from the URI; several
    workers may share the cache (the first to publish a model wins, the others use it)."""

    def __init__(
        self, artifacts: ArtifactStore, cache_dir: Path, extractor: ArchiveExtractor | None
    ) -> None:
        self.artifacts = artifacts
        self.cache_dir = cache_dir
        self.extractor = extractor

    def local_directory(self, uri: str) -> Path:
        if not is_remote(uri) and not is_archive(uri):
            return local_path(uri)
        target = self.cache_dir / hashlib.sha256(uri.encode()).hexdigest()[:16]
        if not target.is_dir():
            self._publish(uri, target)
        return model_root(target)

    def _publish(self, uri: str, target: Path) -> None:
        """Fetches into a staging folder and renames it to `target` (whole or not at all)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=self.cache_dir))
        try:
            files = staging / "model"
            try:
                if is_remote(uri):
                    fetch_model(self.artifacts, uri, files, self.extractor)
                else:
                    unpack_local(uri, files, self.extractor)
            except ArchiveRefused as error:
                raise ModelUnusable(uri, f"archive refused: {error}") from None
            try:
                files.replace(target)
            except OSError:
                if not target.is_dir():
                    raise
                # another worker sharing the cache published the same model first: use its copy
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _unpack(uri: str, archive: Path, target: Path, extractor: ArchiveExtractor | None) -> None:
    if extractor is None:
        raise ModelUnusable(uri, "it is an archive and this process has no archive extractor")
    extractor.extract(archive, target)


def _parse(uri: str) -> ArtifactURI:
    try:
        return ArtifactURI.parse(uri)
    except InvalidArtifactURI as error:
        raise ModelUnusable(uri, str(error)) from None
