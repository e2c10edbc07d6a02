"""Dataset snapshots: a prepared data set saved once, loaded by later runs, hash-checked."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.datasets import content_hash
from receipts.domain.errors import InvalidInput


def save_snapshot(dataset: PreparedDataset, path: Path) -> Path:
    path = Path(path)
    if path.suffix != ".json":
        path = path / "dataset_snapshot.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(dataset.model_dump_json())
    partial.replace(path)
    return path


def load_snapshot(path: Path) -> PreparedDataset:
    path = Path(path)
    if path.is_dir():
        path = path / "dataset_snapshot.json"
    if not path.is_file():
        raise InvalidInput("dataset snapshot", [f"{path}: no such file"])
    try:
        dataset = PreparedDataset.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors()[0]["msg"]
        raise InvalidInput(
            "dataset snapshot",
            [f"{path}: not a snapshot ({error.error_count()} problem(s), the first: {first})"],
        ) from None
    actual = content_hash([*dataset.train, *dataset.validation], dataset.tags)
    if actual != dataset.content_hash:
        raise InvalidInput(
            "dataset snapshot",
            [
                f"{path}: content hash {actual[:12]} does not match"
                f" the recorded {dataset.content_hash[:12]}"
            ],
        )
    return dataset
