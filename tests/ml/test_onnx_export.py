"""The ONNX exporter on a tiny LayoutLM checkpoint: bundles in every quantization, parity
with torch, dynamic batch and length, the ONNX Runtime predictor, and refused inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from transformers import LayoutLMForTokenClassification

from receipts.adapters.onnx import exporter as exporter_module
from receipts.adapters.onnx.exporter import ONNXExporter
from receipts.adapters.onnx.graph_export import export_graph
from receipts.adapters.onnx.parity import parity_inputs, torch_logits
from receipts.adapters.onnx.runtime import MODEL_FILE, BundleUnusable, ONNXPredictor
from receipts.adapters.torch.encoding import Encoded
from receipts.adapters.torch.models import build_model
from receipts.application.ports.exporter import BundleReport, ExportFailed
from receipts.domain.quantization import Quantization
from receipts.domain.windows import Window

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(59)]
MAX_POSITIONS = 128
LENGTHS = (8, 48, MAX_POSITIONS, 512)
"""512 is past this model's positions: parity leaves it out."""
BUNDLE_FILES = {MODEL_FILE, "vocab.txt", "config.json", "label_map.json", "manifest.json"}


def write_checkpoint(directory: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model("tiny", TAGS, len(VOCAB), max_positions=MAX_POSITIONS)
    with torch.no_grad():  # logits far from uniform, so arg-max agreement means something
        model.classifier.weight.normal_(0.0, 0.5)
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return directory


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("best"))


@pytest.fixture(scope="module")
def reference(checkpoint: Path) -> LayoutLMForTokenClassification:
    model: LayoutLMForTokenClassification = LayoutLMForTokenClassification.from_pretrained(
        checkpoint, use_safetensors=True
    )
    model.train(False)
    return model


@pytest.fixture(scope="module")
def bundles(
    checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[Quantization, tuple[Path, BundleReport]]:
    exporter = ONNXExporter(parity_lengths=LENGTHS, threads=1)
    made = {}
    for mode in Quantization:
        bundle = tmp_path_factory.mktemp(f"bundle-{mode.value}")
        made[mode] = (bundle, exporter.export(checkpoint, bundle, mode))
    return made


def test_a_bundle_holds_the_graph_and_the_shared_files_with_their_sizes(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    bundle, report = bundles[Quantization.FLOAT16]
    assert {p.name for p in bundle.iterdir()} == BUNDLE_FILES
    assert report.file_sizes == {name: (bundle / name).stat().st_size for name in BUNDLE_FILES}
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["exporter"] == "onnx"
    assert manifest["model_file"] == MODEL_FILE
    assert manifest["quantization"] == "float16"
    assert manifest["labels"] == TAGS
    assert manifest["model"]["dynamic_axes"] == ["batch", "sequence"]
    assert manifest["validation"] == report.validation
    assert json.loads((bundle / "label_map.json").read_text()) == {
        str(i): tag for i, tag in enumerate(TAGS)
    }


@pytest.mark.parametrize("mode", list(Quantization))
def test_fp32_parity_is_checked_at_every_length_and_batch_then_the_mode_is_measured(
    bundles: dict[Quantization, tuple[Path, BundleReport]], mode: Quantization
) -> None:
    validation = bundles[mode][1].validation
    fp32 = validation["fp32"]
    random = [c for c in fp32["cases"] if c["inputs"] == "random"]
    assert [(c["length"], c["batch"]) for c in random] == [
        (length, batch) for length in (8, 48, MAX_POSITIONS) for batch in (1, 2)
    ]
    (receipts,) = [c for c in fp32["cases"] if c["inputs"] == "receipts"]
    assert (
        1 < receipts["batch"] <= 8 and receipts["tokens"] < receipts["batch"] * receipts["length"]
    )
    padded = [c for c in random if c["batch"] == 2]
    assert all(c["tokens"] < 2 * c["length"] for c in padded)  # padding excluded
    assert fp32["max_abs_diff"] <= 1e-4
    assert fp32["argmax_agreement"] == 1.0
    quantized = validation[mode.value]
    assert len(quantized["cases"]) == len(fp32["cases"])
    assert 0.9 <= quantized["receipts_argmax_agreement"] <= 1.0
    assert fp32["max_abs_diff"] < quantized["max_abs_diff"] < 5.0  # lossy, not broken
    assert quantized["argmax_agreement"] >= 0.9
    assert set(validation["seconds"]) == {
        "export_graph",
        "validate_fp32",
        "quantize",
        "validate_quantized",
    }


def test_quantized_graphs_shrink_in_mode_order_and_use_their_operators(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    sizes = {mode: report.file_sizes[MODEL_FILE] for mode, (_, report) in bundles.items()}
    fp32_bytes = bundles[Quantization.FLOAT16][1].validation["fp32_bytes"]
    assert sizes[Quantization.FLOAT16] < 0.55 * fp32_bytes
    assert sizes[Quantization.INT8] < 0.6 * sizes[Quantization.FLOAT16]
    assert sizes[Quantization.INT4] < sizes[Quantization.INT8]
    errors = [bundles[mode][1].validation[mode.value]["max_abs_diff"] for mode in Quantization]
    assert errors == sorted(errors)  # float16 < int8 < int4
    expected = {  # this vocabulary (64 rows) is under 8,192 rows: int4 keeps its table 8-bit
        Quantization.INT8: {("MatMulInteger", None), ("GatherBlockQuantized", 8)},
        Quantization.INT4: {("MatMulNBits", 4), ("GatherBlockQuantized", 8)},
    }
    for mode, operators in expected.items():
        graph = onnx.load(str(bundles[mode][0] / MODEL_FILE)).graph
        quantized = {
            (node.op_type, next((a.i for a in node.attribute if a.name == "bits"), None))
            for node in graph.node
            if node.op_type in {"MatMulInteger", "MatMulNBits", "GatherBlockQuantized"}
        }
        assert quantized == operators
        floats = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
        matmuls = [node for node in graph.node if node.op_type == "MatMul"]
        assert matmuls  # attention's scores and context: activations only, left as they are
        assert not [node.name for node in matmuls if node.input[1] in floats]
        gathers = [node for node in graph.node if node.op_type == "Gather"]
        assert not [node.name for node in gathers if node.input[0] in floats]
    float16 = onnx.load(str(bundles[Quantization.FLOAT16][0] / MODEL_FILE)).graph
    weights = [init for init in float16.initializer if len(init.dims) == 2]
    assert weights and all(init.data_type == onnx.TensorProto.FLOAT16 for init in weights)


@pytest.mark.parametrize("mode", list(Quantization))
def test_the_graph_takes_any_batch_and_length_as_int32_and_keeps_float32_outputs(
    bundles: dict[Quantization, tuple[Path, BundleReport]], mode: Quantization
) -> None:
    predictor = ONNXPredictor(bundles[mode][0], threads=1)
    inputs = {i.name: (i.type, i.shape) for i in predictor.session.get_inputs()}
    assert inputs == {
        "input_ids": ("tensor(int32)", ["batch", "sequence"]),
        "bbox": ("tensor(int32)", ["batch", "sequence", 4]),
        "attention_mask": ("tensor(int32)", ["batch", "sequence"]),
    }
    for batch, length in ((1, 1), (3, 37), (2, MAX_POSITIONS)):
        ids, bbox, mask = parity_inputs(len(VOCAB), length, batch, seed=7)
        logits, probabilities = predictor.session.run(
            None, {"input_ids": ids, "bbox": bbox, "attention_mask": mask}
        )
        assert logits.shape == probabilities.shape == (batch, length, len(TAGS))
        assert logits.dtype == probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-3)


def _window(ids: list[int], seed: int) -> Encoded:
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 1001, (len(ids), 4))
    boxes = [(min(a, c), min(b, d), max(a, c), max(b, d)) for a, b, c, d in corners.tolist()]
    return Encoded(0, Window(0, len(ids)), ids, boxes, [-100] * len(ids), [])


def test_the_predictor_gives_each_window_its_torch_logits_whatever_it_is_batched_with(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
    reference: LayoutLMForTokenClassification,
) -> None:
    predictor = ONNXPredictor(bundles[Quantization.FLOAT16][0], threads=1)
    assert predictor.labels == TAGS
    windows = [_window([2, 10, 11, 12, 3], 1), _window([2, *range(5, 60), 3], 2)]
    together = predictor.logits(windows)
    for window, logits in zip(windows, together, strict=True):
        alone = predictor.logits([window])[0]
        np.testing.assert_allclose(logits, alone, atol=2e-3)
        ids = np.array([window.input_ids], dtype=np.int32)
        bbox = np.array([window.bbox], dtype=np.int32)
        expected = torch_logits(reference, ids, bbox, np.ones_like(ids))[0]
        assert logits.shape == expected.shape
        assert np.abs(logits - expected).max() < 2e-2  # float16 weights
    tags = predictor.predict(windows)
    assert [len(t) for t in tags] == [5, 57]
    assert {tag for row in tags for tag in row} <= set(TAGS)
    assert predictor.logits([]) == []


def test_the_predictor_refuses_unusable_bundles_and_windows(
    bundles: dict[Quantization, tuple[Path, BundleReport]], tmp_path: Path
) -> None:
    with pytest.raises(BundleUnusable, match=r"no LayoutLM\.onnx"):
        ONNXPredictor(tmp_path)
    (tmp_path / MODEL_FILE).write_bytes((bundles[Quantization.INT8][0] / MODEL_FILE).read_bytes())
    with pytest.raises(BundleUnusable, match=r"label_map\.json is missing"):
        ONNXPredictor(tmp_path)
    (tmp_path / "label_map.json").write_text(json.dumps({"0": "O", "1": "B-X"}))
    with pytest.raises(BundleUnusable, match=r"the model has 5 labels, label_map\.json 2"):
        ONNXPredictor(tmp_path)
    predictor = ONNXPredictor(bundles[Quantization.INT8][0], threads=1)
    with pytest.raises(ValueError, match="window 0 has 3 tokens but 1 boxes"):
        predictor.logits([Encoded(0, Window(0, 1), [2, 9, 3], [(0, 0, 1, 1)], [], [])])


def test_a_graph_that_differs_from_torch_fails_naming_the_length_and_the_difference(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def export_a_drifted_graph(model: LayoutLMForTokenClassification, path: Path) -> None:
        drifted = LayoutLMForTokenClassification.from_pretrained(checkpoint)
        with torch.no_grad():
            drifted.classifier.bias.add_(0.01)
        export_graph(drifted, path)

    monkeypatch.setattr(exporter_module, "export_graph", export_a_drifted_graph)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with pytest.raises(
        ExportFailed,
        match=r"ONNX fp32 logits differ from torch fp32 by 0\.01 "
        r"at length 8 \(batch 1, random inputs\), above the tolerance 0\.0001",
    ):
        ONNXExporter(parity_lengths=(8, 16), threads=1).export(
            checkpoint, bundle, Quantization.INT8
        )
    assert list(bundle.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no staging left behind


def _rewire_logits(model: onnx.ModelProto, op: str, *extra: str) -> None:
    """Feeds the graph's logits through `op` (with `extra` constant inputs)."""
    for node in model.graph.node:
        if node.output and node.output[0] == "logits":
            node.output[0] = "raw_logits"
    model.graph.node.append(onnx.helper.make_node(op, ["raw_logits", *extra], ["logits"]))


def _negated(source: Path, target: Path, mode: Quantization) -> None:
    model = onnx.load(str(source))
    _rewire_logits(model, "Neg")  # the arg-max becomes the arg-min: it almost never agrees
    onnx.save(model, str(target))


def _overflowing(source: Path, target: Path, mode: Quantization) -> None:
    model = onnx.load(str(source))
    huge = onnx.numpy_helper.from_array(np.array(np.inf, dtype=np.float32), "huge")
    model.graph.initializer.append(huge)
    _rewire_logits(model, "Mul", "huge")  # as an fp16 overflow would
    onnx.save(model, str(target))


@pytest.mark.parametrize(
    ("quantize", "message"),
    [
        (
            _negated,
            r"the int8 ONNX graph agrees with torch fp32 on \d+\.\d\d% of tokens, below"
            r" 95\.00% \(worst: .* at length \d+, batch \d\)",
        ),
        (
            _overflowing,
            r"the int8 ONNX graph's logits are not finite at length 8 \(batch 1, random inputs\)",
        ),
    ],
    ids=["disagreeing", "not-finite"],
)
def test_a_quantized_graph_that_is_broken_or_misses_the_agreement_fails_the_export(
    checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    quantize: Any,
    message: str,
) -> None:
    monkeypatch.setattr(exporter_module, "quantize_graph", quantize)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with pytest.raises(ExportFailed, match=message):
        ONNXExporter(parity_lengths=(8,), threads=1, min_agreement=0.95).export(
            checkpoint, bundle, Quantization.INT8
        )
    assert list(bundle.iterdir()) == []


def _pickle_only(directory: Path) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "layoutlm"}))
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    return directory


def _bert(directory: Path) -> Path:
    write_checkpoint(directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    return directory


def _corrupt_weights(directory: Path) -> Path:
    write_checkpoint(directory)
    (directory / "model.safetensors").write_bytes(b"not a safetensors file")
    return directory


def _empty(directory: Path) -> Path:
    directory.mkdir()
    return directory


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "does not exist"),
        (_empty, "config.json is missing"),
        (_pickle_only, r"pickle checkpoints are refused \(pytorch_model.bin\)"),
        (_bert, "model_type 'bert' is not a LayoutLM token classifier"),
        (_corrupt_weights, r"ckpt: the model does not load \(SafetensorError: .*header"),
    ],
    ids=["missing", "no-model-files", "pickle-only", "not-layoutlm", "corrupt-weights"],
)
def test_checkpoints_that_cannot_export_are_refused_with_the_reason(
    tmp_path: Path, make: Any, message: str
) -> None:
    source = make(tmp_path / "ckpt")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with pytest.raises(ExportFailed, match=message):
        ONNXExporter().export(source, bundle, Quantization.FLOAT16)
    assert list(bundle.iterdir()) == []


def test_an_unknown_quantization_or_a_used_bundle_directory_is_refused(
    checkpoint: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        ExportFailed, match="unknown quantization 'int2'; known: float16, int8, int4"
    ):
        ONNXExporter().export(checkpoint, tmp_path, "int2")  # type: ignore[arg-type]
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ExportFailed, match="is not empty"):
        ONNXExporter().export(checkpoint, tmp_path, Quantization.INT4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"parity_lengths": ()}, "at least one length"),
        ({"batch_sizes": (0,)}, "batch sizes must be 1 or more"),
        ({"min_agreement": 1.5}, "min_agreement must be within 0..1"),
        ({"validation_receipts": -1}, "validation_receipts must be 0 or more"),
    ],
)
def test_bad_exporter_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ONNXExporter(**options)
