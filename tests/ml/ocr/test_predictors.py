"""The predictors on the tiny trained model: it reads held-out receipts, torch and ONNX
Runtime agree on the same weights, int8 and bf16 label as fp32, clear refusals (what every
predictor promises is tests/contracts/test_predictor_contract.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.ml.ocr.conftest import TEST_SEED

from receipts.adapters.synthetic.generator import generate_receipt
from receipts.application.ports.predictor import ModelUnusable
from receipts.bootstrap.inference import load_predictor
from receipts.domain.boxes import BoundingBox
from receipts.domain.receipt import Receipt, Word


def receipts(count: int) -> list[Receipt]:
    return [generate_receipt(TEST_SEED, i)[0] for i in range(count)]


def long_receipt(words: int) -> Receipt:
    """More words than one window of the tiny model (128 tokens) holds."""
    return Receipt(
        receipt_id="long",
        width=1000,
        height=10 * words + 10,
        words=tuple(
            Word(
                word_id=i,
                line_id=i // 4,
                text=f"item{i} 4.{i % 100:02d}" if i % 2 else "SUBTOTAL",
                box=BoundingBox(
                    x0=10 + (i % 4) * 200, y0=10 * i, x1=180 + (i % 4) * 200, y1=10 * i + 9
                ),
            )
            for i in range(words)
        ),
    )


def test_the_tiny_model_reads_held_out_receipts(tiny_model: Path) -> None:
    batch = receipts(20)
    predictions = load_predictor(tiny_model).predict(batch)
    merged = {"LINE_TOTAL", "SUBTOTAL", "TAX", "GRAND_TOTAL"}
    right = sum(
        (p.label == ("AMOUNT" if w.label in merged else w.label))
        for r, pr in zip(batch, predictions, strict=True)
        for w, p in zip(r.words, pr.words, strict=True)
    )
    assert right / sum(len(r.words) for r in batch) > 0.85
    companies = sum(
        p.fields().get("company") == r.fields["company"]
        for r, p in zip(batch, predictions, strict=True)
    )
    assert companies >= 15


def test_int8_weights_agree_with_fp32(tiny_model: Path) -> None:
    batch = receipts(10)
    fp32 = load_predictor(tiny_model).predict(batch)
    int8 = load_predictor(tiny_model, quantize="int8")
    assert int8.info.quantization == "int8"
    labels8 = [w.label for p in int8.predict(batch) for w in p.words]
    labels32 = [w.label for p in fp32 for w in p.words]
    agree = sum(a == b for a, b in zip(labels8, labels32, strict=True)) / len(labels32)
    assert agree > 0.95


def test_an_onnx_bundle_predicts_what_the_checkpoint_predicts(
    tiny_model: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from receipts.adapters.onnx.exporter import ONNXExporter
    from receipts.domain.quantization import Quantization

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    ONNXExporter().export(tiny_model, bundle, Quantization.FLOAT16)
    batch = [*receipts(5), long_receipt(300)]

    onnx = load_predictor(bundle)
    torch_predictions = load_predictor(tiny_model).predict(batch)
    onnx_predictions = onnx.predict(batch)

    assert onnx.info.runtime == "onnx" and onnx.info.model_name == "tiny-ocr-model"
    for a, b in zip(torch_predictions, onnx_predictions, strict=True):
        assert [w.label for w in a.words] == [w.label for w in b.words]
        assert (
            max(abs(x.confidence - y.confidence) for x, y in zip(a.words, b.words, strict=True))
            < 1e-3
        )


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("model.safetensors", "model.safetensors"),
        ("config.json", "config.json"),
        ("vocab.txt", "vocab.txt"),
    ],
)
def test_a_model_missing_a_file_is_refused_naming_it(
    tiny_model: Path, tmp_path: Path, damage: str, named: str
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(tiny_model, broken)
    (broken / damage).unlink()
    if damage == "vocab.txt":
        (broken / "tokenizer.json").unlink(missing_ok=True)
    with pytest.raises(ModelUnusable, match=named):
        load_predictor(broken)


def test_a_coreml_only_bundle_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnusable, match="no such file"):
        load_predictor(tmp_path / "nowhere")
    bundle = tmp_path / "coreml"
    (bundle / "LayoutLM.mlpackage").mkdir(parents=True)
    with pytest.raises(ModelUnusable, match="runs on Apple"):
        load_predictor(bundle)


def test_a_run_directory_loads_its_best_checkpoint(tiny_model: Path) -> None:
    run = tiny_model.parent
    assert load_predictor(run).info.job_id == "tiny-ocr-model"


def test_bf16_autocast_labels_as_fp32_does(tiny_model: Path) -> None:
    batch = receipts(10)
    fp32 = load_predictor(tiny_model).predict(batch)
    bf16 = load_predictor(tiny_model, quantize="bfloat16")
    assert bf16.info.quantization == "bfloat16"
    labels16 = [w.label for p in bf16.predict(batch) for w in p.words]
    labels32 = [w.label for p in fp32 for w in p.words]
    agree = sum(a == b for a, b in zip(labels16, labels32, strict=True)) / len(labels32)
    assert agree > 0.97
