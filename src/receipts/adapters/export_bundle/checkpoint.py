"""Checks that a directory holds an exportable LayoutLM checkpoint, without loading it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from receipts.adapters.export_bundle.manifest import sha256_of
from receipts.application.ports.exporter import ExportFailed

WEIGHTS = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TRAINER_STATE = "trainer_state.json"


@dataclass(frozen=True)
class ExportableCheckpoint:
    directory: Path
    config: dict[str, Any]
    labels: list[str]
    """Tag names in id order."""
    vocab: Path
    state: dict[str, Any] = field(default_factory=dict)
    """trainer_state.json when the checkpoint came from this project's trainer."""

    @property
    def weights(self) -> Path:
        return self.directory / WEIGHTS

    @property
    def max_positions(self) -> int:
        return int(self.config.get("max_position_embeddings", 512))

    def source(self) -> dict[str, Any]:
        """What the manifest records about where the bundle came from. `epoch` is the last
        epoch the weights completed (for `best/`, the best epoch): the trainer's state keeps
        the epoch to train next, one above it."""
        run = self.state.get("run")
        if not isinstance(run, dict):
            run = {}
        next_epoch = run.get("epoch")
        return {
            "checkpoint": self.directory.name,
            "weights_sha256": sha256_of(self.weights),
            "job_name": self.state.get("job_name"),
            "epoch": next_epoch - 1 if isinstance(next_epoch, int) else None,
            "global_step": run.get("global_step"),
            "best_f1": run.get("best_f1"),
        }


def inspect_checkpoint(directory: Path) -> ExportableCheckpoint:
    """The checkpoint in `directory`; ExportFailed names what makes it unexportable.

    Only safetensors weights are accepted: a pickle (`pytorch_model.bin`, `*.pt`) can run
    code when loaded, so it is refused even when it is the only weights file.
    """
    if not directory.exists():
        raise ExportFailed(f"checkpoint directory {directory} does not exist")
    if not directory.is_dir():
        raise ExportFailed(f"checkpoint {directory} is not a directory")
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ExportFailed(f"{directory} is not a model checkpoint: config.json is missing")
    if not (directory / WEIGHTS).is_file():
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise ExportFailed(
                f"{directory}: pickle checkpoints are refused ({', '.join(pickles)});"
                f" only {WEIGHTS} is exported (save with safe_serialization=True)"
            )
        raise ExportFailed(f"{directory} is not a model checkpoint: {WEIGHTS} is missing")
    config = _json_object(config_path)
    model_type = config.get("model_type")
    if model_type != "layoutlm":
        raise ExportFailed(
            f"{config_path}: model_type {model_type!r} is not a LayoutLM token classifier"
        )
    labels = _labels(config, config_path)
    vocab = directory / "vocab.txt"
    if not vocab.is_file():
        raise ExportFailed(f"{directory}: vocab.txt is missing (the bundle ships the vocabulary)")
    state_path = directory / TRAINER_STATE
    state = _json_object(state_path) if state_path.is_file() else {}
    return ExportableCheckpoint(directory, config, labels, vocab, state)


def _json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ExportFailed(f"{path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ExportFailed(f"{path} is not a JSON object")
    return value


def _labels(config: dict[str, Any], config_path: Path) -> list[str]:
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ExportFailed(f"{config_path}: id2label is missing, so the labels are unknown")
    return labels_in_id_order(id2label, config_path, ExportFailed)


def labels_in_id_order(id2label: dict[Any, Any], where: Path, error: type[Exception]) -> list[str]:
    """The tags of an {id: tag} map in id order; `error` when the ids are not 0..n-1."""
    try:
        by_id = {int(key): str(tag) for key, tag in id2label.items()}
    except ValueError:
        raise error(f"{where}: label ids must be integers") from None
    if sorted(by_id) != list(range(len(by_id))):
        raise error(f"{where}: label ids must be 0..{len(by_id) - 1}")
    return [by_id[i] for i in range(len(by_id))]
