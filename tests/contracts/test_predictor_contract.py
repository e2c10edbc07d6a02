"""Contract tests every Predictor adapter (and its PredictorLoader) must pass, on a tiny
LayoutLM with random weights and a window of 128 tokens: one prediction per receipt and one
per word in order, past the window too; labels from the model's label set; the same
predictions for the same receipts, alone or in a batch, at any pixel scale; and a model
directory that cannot be loaded refused as ModelUnusable naming it.

The port takes `Receipt`s, whose words each carry their own box, so a word/box count
mismatch cannot reach a predictor: there is no clause for it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.ports.predictor import ModelUnusable, Predictor, PredictorLoader
from receipts.domain.boxes import BoundingBox
from receipts.domain.labels import OUTSIDE
from receipts.domain.predictions import ReceiptPrediction
from receipts.domain.receipt import Receipt, Word

if TYPE_CHECKING:
    from receipts.adapters.torch.predictor import TorchQuantization

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]
FEWER_TAGS = {"0": "O", "1": "B-AMOUNT", "2": "I-AMOUNT"}
WINDOW = 128
EMPTY = Receipt(receipt_id="empty", width=10, height=10, words=())


def long_receipt(words: int = 300) -> Receipt:
    """More words than one window of the model holds."""
    return Receipt(
        receipt_id="long",
        width=1000,
        height=10 * words + 10,
        words=tuple(
            Word(
                word_id=i,
                line_id=i // 4,
                text=f"4.{i % 100:02d}" if i % 2 else f"ITEM{i}",
                box=BoundingBox(
                    x0=10 + (i % 4) * 200, y0=10 * i, x1=180 + (i % 4) * 200, y1=10 * i + 9
                ),
            )
            for i in range(words)
        ),
    )


RECEIPTS = [*generate_receipts(4, seed=3), long_receipt()]


def _relabel_checkpoint(directory: Path) -> None:
    config_file = directory / "config.json"
    config = json.loads(config_file.read_text())
    config["id2label"] = FEWER_TAGS
    config["label2id"] = {tag: int(i) for i, tag in FEWER_TAGS.items()}
    config_file.write_text(json.dumps(config))


def _relabel_bundle(directory: Path) -> None:
    (directory / "label_map.json").write_text(json.dumps(FEWER_TAGS))


@dataclass(frozen=True)
class Adapter:
    load: PredictorLoader
    model_dir: Path
    weights: str
    """The file holding the weights."""
    relabel: Callable[[Path], None]
    """Gives a copy of the model fewer labels than its weights have."""
    tolerance: float
    """How far a word's confidence may move with the batch it runs in."""
    batch_agreement: float = 1.0
    """The share of labels that must not change with the batch a receipt runs in."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LayoutLM with random weights, as the trainer saves one; the classifier is
    scaled up so that labels win by clear margins, not by float noise."""
    torch = pytest.importorskip("torch")
    from receipts.adapters.torch.checkpoints import save_checkpoint
    from receipts.adapters.torch.models import build_model
    from receipts.adapters.torch.tokenization import train_tokenizer

    words = [word.text for receipt in RECEIPTS for word in receipt.words]
    tokenizer = train_tokenizer(words, vocab_size=300)
    torch.manual_seed(0)
    model = build_model("tiny", TAGS, len(tokenizer), max_positions=WINDOW)
    with torch.no_grad():
        model.classifier.weight.mul_(50)
    directory = tmp_path_factory.mktemp("checkpoints") / "best"
    save_checkpoint(directory, model, tokenizer, {})
    return directory


def _torch(checkpoint: Path, tmp: pytest.TempPathFactory, quantize: TorchQuantization) -> Adapter:
    from receipts.adapters.torch.predictor import TorchPredictor

    # measured alone vs in the batch: float32 1e-6, bfloat16 5e-3, int8 0.16
    tolerance = {"float32": 1e-5, "bfloat16": 2e-2, "int8": 0.25}[quantize]
    return Adapter(
        partial(TorchPredictor, quantize=quantize),
        checkpoint,
        "model.safetensors",
        _relabel_checkpoint,
        tolerance,
        # dynamic int8 quantizes activations with one scale per batch, padding included,
        # so a receipt's labels depend on its batch mates (measured: 473 of 485 words agree)
        batch_agreement=0.9 if quantize == "int8" else 1.0,
    )


def _onnx(checkpoint: Path, tmp: pytest.TempPathFactory) -> Adapter:
    pytest.importorskip("onnxruntime")
    from receipts.adapters.onnx.exporter import ONNXExporter
    from receipts.adapters.onnx.predictor import ONNXBundlePredictor
    from receipts.domain.quantization import Quantization

    bundle = tmp.mktemp("bundle")
    ONNXExporter().export(checkpoint, bundle, Quantization.FLOAT16)
    # measured alone vs in the batch: 5e-5
    return Adapter(ONNXBundlePredictor, bundle, "LayoutLM.onnx", _relabel_bundle, 2e-4)


ADAPTERS: dict[str, Callable[[Path, pytest.TempPathFactory], Adapter]] = {
    "torch": partial(_torch, quantize="float32"),
    "torch-bfloat16": partial(_torch, quantize="bfloat16"),
    "torch-int8": partial(_torch, quantize="int8"),
    "onnx": _onnx,
}


@pytest.fixture(scope="module", params=[pytest.param(n, marks=pytest.mark.ml) for n in ADAPTERS])
def adapter(
    request: pytest.FixtureRequest, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Adapter:
    built: Adapter = ADAPTERS[request.param](checkpoint, tmp_path_factory)
    return built


@pytest.fixture(scope="module")
def predictor(adapter: Adapter) -> Predictor:
    return adapter.load(adapter.model_dir)


@pytest.fixture(scope="module")
def predicted(predictor: Predictor) -> list[ReceiptPrediction]:
    return predictor.predict([*RECEIPTS, EMPTY])


def test_one_prediction_per_receipt_and_one_per_word_in_order(
    predictor: Predictor, predicted: list[ReceiptPrediction]
) -> None:
    assert [p.receipt_id for p in predicted] == [r.receipt_id for r in [*RECEIPTS, EMPTY]]
    for receipt, prediction in zip(RECEIPTS, predicted, strict=False):
        got = [(w.word_id, w.line_id, w.text) for w in prediction.words]
        assert got == [(w.word_id, w.line_id, w.text) for w in receipt.words]
    assert predicted[-1].words == ()
    assert predictor.predict([EMPTY]) == [ReceiptPrediction(receipt_id="empty")]
    assert predictor.predict([]) == []


def test_labels_come_from_the_models_label_set(
    predictor: Predictor, predicted: list[ReceiptPrediction]
) -> None:
    assert set(predictor.info.labels) == {"AMOUNT", "DATE"}
    known = {OUTSIDE, *predictor.info.labels}
    words = [w for p in predicted for w in p.words]
    assert {w.label for w in words} <= known
    for w in words:
        assert 0.0 <= w.confidence <= 1.0
        if w.scores:
            assert w.scores.keys() == known
            assert sum(w.scores.values()) == pytest.approx(1.0, abs=1e-4)
            assert w.confidence == pytest.approx(w.scores[w.label], abs=1e-6)


def test_the_same_receipts_get_the_same_predictions(
    predictor: Predictor, predicted: list[ReceiptPrediction]
) -> None:
    assert predictor.predict([*RECEIPTS, EMPTY]) == predicted


def test_a_receipt_is_labelled_alone_as_in_a_batch(
    adapter: Adapter, predictor: Predictor, predicted: list[ReceiptPrediction]
) -> None:
    alone = [predictor.predict([receipt])[0] for receipt in RECEIPTS]
    batched = predicted[: len(RECEIPTS)]
    pairs = [
        (a, b)
        for x, y in zip(alone, batched, strict=True)
        for a, b in zip(x.words, y.words, strict=True)
    ]
    agree = sum(a.label == b.label for a, b in pairs) / len(pairs)
    assert agree >= adapter.batch_agreement
    assert max(abs(a.confidence - b.confidence) for a, b in pairs) <= adapter.tolerance


def test_boxes_are_read_relative_to_the_receipts_size(
    predictor: Predictor, predicted: list[ReceiptPrediction]
) -> None:
    def doubled(receipt: Receipt) -> Receipt:
        words = tuple(
            w.model_copy(update={"box": BoundingBox.from_list([2 * v for v in w.box.as_list()])})
            for w in receipt.words
        )
        return receipt.model_copy(
            update={"width": 2 * receipt.width, "height": 2 * receipt.height, "words": words}
        )

    assert predictor.predict([doubled(r) for r in RECEIPTS]) == predicted[: len(RECEIPTS)]


def test_the_loader_records_where_the_model_came_from(adapter: Adapter) -> None:
    loaded = adapter.load(adapter.model_dir, source_uri="s3://models/bundles/tiny/")

    assert loaded.info.source_uri == "s3://models/bundles/tiny/"


@pytest.mark.parametrize("missing", [True, False], ids=["missing", "empty"])
def test_a_directory_without_a_model_is_unusable_naming_it(
    adapter: Adapter, tmp_path: Path, missing: bool
) -> None:
    directory = tmp_path / "not-a-model"
    if not missing:
        directory.mkdir()

    with pytest.raises(ModelUnusable) as refused:
        adapter.load(directory)

    assert refused.value.path == directory
    assert str(directory) in str(refused.value)


@pytest.mark.parametrize("damage", ["unreadable weights", "fewer labels than the weights"])
def test_a_damaged_model_is_unusable_naming_it(
    adapter: Adapter, tmp_path: Path, damage: str
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(adapter.model_dir, broken)
    if damage == "unreadable weights":
        (broken / adapter.weights).write_bytes(b"not weights")
    else:
        adapter.relabel(broken)

    with pytest.raises(ModelUnusable) as refused:
        adapter.load(broken)

    assert str(broken) in str(refused.value)
