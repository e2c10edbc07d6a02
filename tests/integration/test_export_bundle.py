"""The shared bundle module: checkpoint checks, metadata files, manifest, staging."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from receipts.adapters.export_bundle.checkpoint import inspect_checkpoint
from receipts.adapters.export_bundle.writer import (
    finish_bundle,
    staging_area,
)
from receipts.application.ports.exporter import ExportFailed

CONFIG = {"model_type": "layoutlm", "id2label": {"0": "O", "1": "B-AMOUNT", "2": "I-AMOUNT"}}


def _checkpoint(directory: Path, config: dict[str, object] | None = None) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(config or CONFIG))
    (directory / "model.safetensors").write_bytes(b"weights")
    (directory / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\ntotal\n")
    (directory / "trainer_state.json").write_text(
        # the trainer's state after epoch 2 was the best: `epoch` is the one to train next
        json.dumps(
            {"job_name": "receipts-1", "run": {"epoch": 3, "global_step": 90, "best_epoch": 2}}
        )
    )
    return directory


def test_a_checkpoint_is_read_with_its_labels_and_source(tmp_path: Path) -> None:
    checkpoint = inspect_checkpoint(_checkpoint(tmp_path / "best"))
    assert checkpoint.labels == ["O", "B-AMOUNT", "I-AMOUNT"]
    source = checkpoint.source()
    assert source["job_name"] == "receipts-1"
    assert source["global_step"] == 90
    assert source["epoch"] == 2, "the epoch the weights come from, not the next one"
    assert source["weights_sha256"] == hashlib.sha256(b"weights").hexdigest()


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.mkdir(), "config.json is missing"),
        (
            lambda d: (d.mkdir(), (d / "config.json").write_text(json.dumps(CONFIG))),
            "model.safetensors is missing",
        ),
        (
            lambda d: (
                d.mkdir(),
                (d / "config.json").write_text(json.dumps(CONFIG)),
                (d / "pytorch_model.bin").write_bytes(b"pickle"),
            ),
            "pickle checkpoints are refused (pytorch_model.bin)",
        ),
    ],
)
def test_unexportable_directories_are_refused_with_the_reason(
    tmp_path: Path, prepare: object, message: str
) -> None:
    directory = tmp_path / "ckpt"
    prepare(directory)  # type: ignore[operator]
    with pytest.raises(ExportFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        inspect_checkpoint(directory)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "bert", "id2label": {"0": "O"}}, "'bert' is not a LayoutLM"),
        ({"model_type": "layoutlm"}, "id2label is missing"),
        ({"model_type": "layoutlm", "id2label": {"0": "O", "2": "B-X"}}, "ids must be 0..1"),
    ],
)
def test_configs_that_are_not_layoutlm_classifiers_are_refused(
    tmp_path: Path, config: dict[str, object], message: str
) -> None:
    with pytest.raises(ExportFailed, match=message):
        inspect_checkpoint(_checkpoint(tmp_path / "ckpt", config))


def test_a_finished_bundle_has_metadata_and_a_manifest_of_every_file(tmp_path: Path) -> None:
    checkpoint = inspect_checkpoint(_checkpoint(tmp_path / "best"))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with staging_area(bundle) as staging:
        (staging / "Model.pkg" / "Data").mkdir(parents=True)
        (staging / "Model.pkg" / "Data" / "weight.bin").write_bytes(b"x" * 100)
        report = finish_bundle(
            staging,
            bundle,
            checkpoint=checkpoint,
            exporter="test",
            model_file="Model.pkg",
            quantization="int8",
            validation={"f1_delta": 0.001},
        )
    assert sorted(p.name for p in bundle.iterdir()) == [
        "Model.pkg",
        "config.json",
        "label_map.json",
        "manifest.json",
        "vocab.txt",
    ]
    assert not list(tmp_path.glob(".bundle-*")), "the staging directory is removed"
    assert json.loads((bundle / "label_map.json").read_text()) == CONFIG["id2label"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    weight = manifest["files"]["Model.pkg/Data/weight.bin"]
    assert weight == {"bytes": 100, "sha256": hashlib.sha256(b"x" * 100).hexdigest()}
    assert manifest["quantization"] == "int8"
    assert manifest["source"]["job_name"] == "receipts-1"
    assert manifest["source"]["epoch"] == 2
    assert manifest["validation"] == {"f1_delta": 0.001}
    assert "torch" in manifest["libraries"]
    assert report.file_sizes["Model.pkg/Data/weight.bin"] == 100
    assert report.file_sizes["manifest.json"] == (bundle / "manifest.json").stat().st_size


def test_a_failed_export_leaves_the_bundle_directory_empty(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with pytest.raises(RuntimeError), staging_area(bundle) as staging:
        (staging / "half.bin").write_bytes(b"half")
        raise RuntimeError("conversion crashed")
    assert list(bundle.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_a_bundle_directory_must_exist_and_be_empty(tmp_path: Path) -> None:
    with pytest.raises(ExportFailed, match="does not exist"), staging_area(tmp_path / "none"):
        pass
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old").write_text("x")
    with pytest.raises(ExportFailed, match="is not empty"), staging_area(tmp_path / "full"):
        pass
