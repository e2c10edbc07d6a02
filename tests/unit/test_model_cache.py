"""ModelCache: remote models downloaded once into a cache that several workers share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.application.ocr.model_cache import ModelCache

MODEL = "memory://bucket/runs/a/best/"


def loader(directory: Path, **_: Any) -> Any:
    return directory  # the directory stands in for the predictor


class RacedStore(InMemoryArtifactStore):
    """Another worker on the same cache publishes the model while this one downloads."""

    def __init__(self, rival: ModelCache | None = None) -> None:
        super().__init__()
        self.rival = rival

    def download_dir(self, prefix: str, directory: Path) -> list[Path]:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            rival.get(MODEL)
        return super().download_dir(prefix, directory)


def test_two_workers_downloading_one_model_into_a_shared_cache_both_get_it(
    tmp_path: Path,
) -> None:
    store = RacedStore()
    store.put_bytes(MODEL + "config.json", b"{}")
    rival = ModelCache(store, tmp_path, loader)
    store.rival = rival
    mine = ModelCache(store, tmp_path, loader)

    directory = mine.get(MODEL)

    assert directory == rival.get(MODEL)
    assert (directory / "config.json").read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == [directory.name]  # no staging left
