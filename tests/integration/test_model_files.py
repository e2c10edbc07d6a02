"""The one model loader: a directory, a store prefix or SageMaker's `model.tar.gz` becomes a
local directory for the OCR worker (ModelCache), the inference Lambdas and inference-report."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from receipts.adapters.archives import SafeTarExtractor
from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.application.model_files import ModelDirectories
from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ports.predictor import ModelUnusable

ARCHIVE = "memory://bucket/runs/sm-job/output/model.tar.gz"
FILES = {"config.json": b'{"model_type": "layoutlm"}', "model.safetensors": b"weights"}


def tar_gz(files: dict[str, bytes], folder: str = "") -> bytes:
    """A model.tar.gz as SageMaker writes one: the files at its root, or in `folder/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(f"{folder}/{name}" if folder else name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def loaded(directory: Path, *, source_uri: str | None = None) -> Any:
    return directory, source_uri  # stands in for the predictor


def contents(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


@pytest.mark.parametrize("folder", ["", "model"])
def test_the_ocr_workers_cache_unpacks_a_sagemaker_archive(tmp_path: Path, folder: str) -> None:
    store = InMemoryArtifactStore()
    store.put_bytes(ARCHIVE, tar_gz(FILES, folder))
    models = ModelCache(
        store, tmp_path / "cache", loaded, default=ARCHIVE, extractor=SafeTarExtractor()
    )

    directory, source = models.get()

    assert contents(directory) == FILES and source == ARCHIVE
    assert directory.is_relative_to(tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")] == []


def test_an_archive_is_downloaded_once_into_the_cache(tmp_path: Path) -> None:
    store = InMemoryArtifactStore()
    store.put_bytes(ARCHIVE, tar_gz(FILES))
    first = ModelDirectories(store, tmp_path, SafeTarExtractor()).local_directory(ARCHIVE)
    store.put_bytes(ARCHIVE, b"not fetched again")

    again = ModelDirectories(store, tmp_path, SafeTarExtractor()).local_directory(ARCHIVE)

    assert again == first and contents(again) == FILES


class RacedStore(InMemoryArtifactStore):
    """Another worker on the same cache publishes the archive's model while this one fetches."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: ModelCache | None = None

    def download_file(self, uri: str, path: Path) -> None:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            rival.get(ARCHIVE)
        super().download_file(uri, path)


def test_two_workers_unpacking_one_archive_into_a_shared_cache_both_get_it(
    tmp_path: Path,
) -> None:
    store = RacedStore()
    store.put_bytes(ARCHIVE, tar_gz(FILES))
    store.rival = ModelCache(store, tmp_path, loaded, extractor=SafeTarExtractor())
    mine = ModelCache(store, tmp_path, loaded, extractor=SafeTarExtractor())

    directory, _ = mine.get(ARCHIVE)

    assert contents(directory) == FILES
    assert [p.name for p in tmp_path.iterdir()] == [directory.name]  # no staging left


def test_a_local_archive_and_a_prefix_without_its_slash_are_models_too(tmp_path: Path) -> None:
    store = InMemoryArtifactStore()
    for name, data in FILES.items():
        store.put_bytes(f"memory://bucket/runs/a/best/{name}", data)
    local = tmp_path / "model.tar.gz"
    local.write_bytes(tar_gz(FILES, "model"))
    files = ModelDirectories(store, tmp_path / "cache", SafeTarExtractor())

    assert contents(files.local_directory("memory://bucket/runs/a/best")) == FILES
    assert contents(files.local_directory(str(local))) == FILES
    assert contents(files.local_directory(local.as_uri())) == FILES
    assert files.local_directory(str(tmp_path)) == tmp_path  # a directory is used where it is


@pytest.mark.parametrize(
    ("uri", "data", "extractor", "reason"),
    [
        (ARCHIVE, None, SafeTarExtractor(), "no such archive"),
        ("memory://bucket/runs/none/", None, SafeTarExtractor(), "no model files under it"),
        (ARCHIVE, tar_gz({"../evil": b"x"}), SafeTarExtractor(), "archive refused: .*evil"),
        (ARCHIVE, b"not a tar", SafeTarExtractor(), "archive refused: .*not a readable tar"),
        (ARCHIVE, tar_gz(FILES), None, ".*no archive extractor"),
        ("s3://elsewhere/model.tar.gz", None, SafeTarExtractor(), ".*only handles memory://"),
    ],
    # named, not by their bytes: a gzip header holds the time, and xdist workers must agree
    ids=["missing", "empty-prefix", "escaping", "not-a-tar", "no-extractor", "other-store"],
)
def test_an_unusable_model_is_named_and_leaves_nothing_in_the_cache(
    tmp_path: Path, uri: str, data: bytes | None, extractor: Any, reason: str
) -> None:
    store = InMemoryArtifactStore()
    if data is not None:
        store.put_bytes(uri, data)

    with pytest.raises(ModelUnusable, match=f"model {uri} is unusable: {reason}"):
        ModelCache(store, tmp_path, loaded, extractor=extractor).get(uri)
    assert list(tmp_path.iterdir()) == []
