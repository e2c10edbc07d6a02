"""The CoreML exporter on a tiny LayoutLM trained on synthetic receipts: bundles for every
quantization, their validation figures, and the inputs it refuses."""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("coremltools")

from safetensors.torch import load_file, save_file  # noqa: E402

from receipts.adapters.coreml import conversion  # noqa: E402
from receipts.adapters.coreml.exporter import CoreMLExporter  # noqa: E402
from receipts.adapters.coreml.library import ct  # noqa: E402
from receipts.adapters.export_bundle.manifest import sha256_of  # noqa: E402
from receipts.adapters.synthetic.generator import generate_receipts  # noqa: E402
from receipts.adapters.torch.trainer import LayoutLMTrainer, SilentReporter  # noqa: E402
from receipts.application.ports.exporter import BundleReport, ExportFailed  # noqa: E402
from receipts.application.ports.training_backend import (  # noqa: E402
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.ports.training_data import PreparedDataset  # noqa: E402
from receipts.application.training.datasets import prepare_dataset  # noqa: E402
from receipts.domain.config import JobConfig  # noqa: E402
from receipts.domain.export_job import ExportOutcome  # noqa: E402
from receipts.domain.quantization import Quantization  # noqa: E402

Q = Quantization
CONFIG = {
    "hyperparameters": {
        "epochs": 4,
        "batch_size": 8,
        "learning_rate": 2e-3,
        "early_stopping_patience": 0,
    },
    "data": {"merge_amounts": True},
    "model": {"model_size": "tiny", "max_seq_length": 96, "stride": 16},
}


def synthetic(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
    return prepare_dataset(
        generate_receipts(60, seed=0),
        spec.config.data,
        seed=1,
        o_entity_ratio=None,
        source="synthetic:0:60",
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The best checkpoint of a short training run (entity F1 well above 0)."""
    output = tmp_path_factory.mktemp("runs")
    spec = TrainingSpec(
        job_id=uuid4(), job_name="export-me", config=JobConfig.model_validate(CONFIG)
    )
    LayoutLMTrainer(synthetic, output, handle_signals=False).train(spec, SilentReporter())
    return output / "export-me" / "best"


@pytest.fixture(scope="module")
def bundles(
    checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[Quantization, tuple[Path, BundleReport]]:
    exporter = CoreMLExporter(synthetic_receipts=24)
    made = {}
    for quantization in Quantization:
        bundle = tmp_path_factory.mktemp(f"bundle-{quantization.value}")
        made[quantization] = (bundle, exporter.export(checkpoint, bundle, quantization))
    return made


def manifest(bundle: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    return loaded


def weights_bytes(bundle: Path) -> int:
    return sum(p.stat().st_size for p in (bundle / "LayoutLM.mlpackage").rglob("*.bin"))


# -- the bundle ------------------------------------------------------------------------------


@pytest.mark.parametrize("quantization", list(Quantization))
def test_a_bundle_holds_the_package_vocabulary_config_labels_and_manifest(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
    checkpoint: Path,
    quantization: Quantization,
) -> None:
    bundle, report = bundles[quantization]
    assert sorted(p.name for p in bundle.iterdir()) == [
        "LayoutLM.mlpackage",
        "config.json",
        "label_map.json",
        "manifest.json",
        "vocab.txt",
    ]
    assert (bundle / "vocab.txt").read_bytes() == (checkpoint / "vocab.txt").read_bytes()
    config = json.loads((checkpoint / "config.json").read_text())
    assert json.loads((bundle / "label_map.json").read_text()) == config["id2label"]
    found = manifest(bundle)
    assert found["quantization"] == quantization.value
    assert found["source"]["job_name"] == "export-me"
    run = json.loads((checkpoint / "trainer_state.json").read_text())["run"]
    assert found["source"]["epoch"] == run["best_epoch"], "best/ holds the best epoch's weights"
    assert found["source"]["weights_sha256"] == sha256_of(checkpoint / "model.safetensors")
    assert {"torch", "transformers", "coremltools"} <= found["libraries"].keys()
    files = {
        p.relative_to(bundle).as_posix(): p
        for p in bundle.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert found["files"].keys() == files.keys()
    for name, path in files.items():
        assert found["files"][name] == {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
    assert report.file_sizes == {
        **{name: entry["bytes"] for name, entry in found["files"].items()},
        "manifest.json": (bundle / "manifest.json").stat().st_size,
    }


@pytest.mark.parametrize("quantization", list(Quantization))
def test_the_package_takes_int32_inputs_of_1_to_as_many_tokens_as_the_model_has_positions(
    bundles: dict[Quantization, tuple[Path, BundleReport]], quantization: Quantization
) -> None:
    bundle, _ = bundles[quantization]
    positions = json.loads((bundle / "config.json").read_text())["max_position_embeddings"]
    longest = min(512, positions)
    spec = ct.models.MLModel(str(bundle / "LayoutLM.mlpackage"), skip_model_load=True).get_spec()
    assert spec.WhichOneof("Type") == "mlProgram"
    inputs = {feature.name: feature.type.multiArrayType for feature in spec.description.input}
    assert list(inputs) == ["input_ids", "bbox", "attention_mask"]
    int32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.INT32
    for name, array in inputs.items():
        assert array.dataType == int32, name
        ranges = [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges]
        assert ranges[:2] == [(1, 1), (1, longest)], name
    assert [feature.name for feature in spec.description.output] == ["logits", "probabilities"]
    described = manifest(bundle)["model"]
    assert described["inputs"]["bbox"]["shape_range"] == [[1, 1], [1, longest], [4, 4]]
    assert described["minimum_deployment_target"] == (
        "iOS18" if quantization is Q.INT4 else "iOS16"
    )


def test_quantized_weights_take_a_half_and_about_a_quarter_of_float16(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    float16, int8, int4 = (weights_bytes(bundles[q][0]) for q in (Q.FLOAT16, Q.INT8, Q.INT4))
    assert 0.45 < int8 / float16 < 0.6
    assert 0.25 < int4 / float16 < 0.4


# -- validation figures ----------------------------------------------------------------------


@pytest.mark.parametrize("quantization", list(Quantization))
def test_every_export_passes_the_float16_check_with_its_figures(
    bundles: dict[Quantization, tuple[Path, BundleReport]], quantization: Quantization
) -> None:
    _, report = bundles[quantization]
    figures = report.validation
    assert figures["fp16_check"] == "passed"
    assert 0 < figures["fp16_max_activation"] < 65504
    assert figures["fp16_max_abs_logit_diff"] < 0.1
    assert figures["fp16_argmax_agreement"] > 0.97
    assert figures["validation_set"] == "synthetic:7919:24"
    assert figures["f1_float32"] > 0.3, "the trained model finds entities"
    assert manifest(bundles[quantization][0])["validation"] == figures


def test_int8_keeps_entity_f1_within_half_a_point(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    figures = bundles[Q.INT8][1].validation
    assert figures["weight_quantization"] == "8-bit linear_symmetric per_channel"
    assert figures["quantized_weights"] > 10
    assert abs(figures["f1_delta"]) <= 0.005
    assert figures["f1_quantized"] == pytest.approx(figures["f1_float32"] + figures["f1_delta"])
    assert figures["word_label_agreement"] > 0.99
    assert abs(figures["f1_delta_float16"]) <= 0.01, "with float16 activations as on device"
    assert figures["f1_quantized_float16"] == pytest.approx(
        figures["f1_float32"] + figures["f1_delta_float16"]
    )


def test_float16_reports_the_f1_of_float16_compute(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    figures = bundles[Q.FLOAT16][1].validation
    assert abs(figures["f1_delta"]) <= 0.01
    assert figures["f1_float16"] == pytest.approx(figures["f1_float32"] + figures["f1_delta"])
    assert "weight_quantization" not in figures


def test_int4_is_measured_and_changes_more_than_int8(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    int8, int4 = bundles[Q.INT8][1].validation, bundles[Q.INT4][1].validation
    assert int4["weight_quantization"] == "4-bit linear_symmetric per_block (block 64)"
    assert int4["max_abs_logit_diff"] > int8["max_abs_logit_diff"]
    assert int4["f1_float32"] == int8["f1_float32"]


def test_the_figures_fit_on_an_export_job(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    _, report = bundles[Q.INT4]
    outcome = ExportOutcome(
        bundle_uri="memory://bundles/x/",
        file_sizes=report.file_sizes,
        total_bytes=sum(report.file_sizes.values()),
        validation=report.validation,
    )
    assert ExportOutcome.model_validate_json(outcome.model_dump_json()) == outcome


@pytest.mark.skipif(platform.system() == "Darwin", reason="CoreML predicts on macOS")
def test_elsewhere_the_coreml_comparison_is_reported_as_skipped(
    bundles: dict[Quantization, tuple[Path, BundleReport]],
) -> None:
    assert "macOS only" in bundles[Q.FLOAT16][1].validation["coreml_comparison"]


@pytest.mark.skipif(platform.system() != "Darwin", reason="CoreML predicts on macOS only")
@pytest.mark.parametrize("quantization", list(Quantization))
def test_on_macos_coreml_outputs_match_torch(
    bundles: dict[Quantization, tuple[Path, BundleReport]], quantization: Quantization
) -> None:
    figures = bundles[quantization][1].validation
    assert figures["coreml_comparison"] == "compared"
    assert figures["coreml_max_abs_logit_diff"] < (0.5 if quantization is Q.INT4 else 0.1)
    assert figures["coreml_argmax_agreement"] > (0.9 if quantization is Q.INT4 else 0.97)


# -- refused inputs: a clear reason, nothing written ----------------------------------------


@pytest.fixture
def empty_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    return bundle


def copy_of(checkpoint: Path, tmp_path: Path) -> Path:
    copied = tmp_path / "checkpoint"
    shutil.copytree(checkpoint, copied)
    return copied


def assert_nothing_written(bundle: Path) -> None:
    assert list(bundle.iterdir()) == []
    assert [p.name for p in bundle.parent.iterdir() if p.name.startswith(".bundle")] == []


def test_a_pickle_checkpoint_is_refused(
    checkpoint: Path, tmp_path: Path, empty_bundle: Path
) -> None:
    pickled = copy_of(checkpoint, tmp_path)
    (pickled / "model.safetensors").unlink()
    torch.save({"weights": torch.zeros(1)}, pickled / "pytorch_model.bin")
    with pytest.raises(ExportFailed, match=r"pickle checkpoints are refused \(pytorch_model.bin\)"):
        CoreMLExporter().export(pickled, empty_bundle, Q.FLOAT16)
    assert_nothing_written(empty_bundle)


def test_a_missing_directory_and_a_non_model_directory_are_refused(
    tmp_path: Path, empty_bundle: Path
) -> None:
    with pytest.raises(ExportFailed, match="does not exist"):
        CoreMLExporter().export(tmp_path / "nowhere", empty_bundle, Q.FLOAT16)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a model")
    with pytest.raises(ExportFailed, match=r"config\.json is missing"):
        CoreMLExporter().export(tmp_path / "notes", empty_bundle, Q.FLOAT16)
    assert_nothing_written(empty_bundle)


def test_a_bert_checkpoint_is_not_a_layoutlm_classifier(
    checkpoint: Path, tmp_path: Path, empty_bundle: Path
) -> None:
    bert = copy_of(checkpoint, tmp_path)
    config = json.loads((bert / "config.json").read_text())
    (bert / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(ExportFailed, match="model_type 'bert' is not a LayoutLM"):
        CoreMLExporter().export(bert, empty_bundle, Q.FLOAT16)


def test_weights_that_do_not_fit_the_config_are_refused(
    checkpoint: Path, tmp_path: Path, empty_bundle: Path
) -> None:
    broken = copy_of(checkpoint, tmp_path)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "hidden_size": 256}))
    with pytest.raises(ExportFailed, match="the weights do not load"):
        CoreMLExporter().export(broken, empty_bundle, Q.INT8)
    assert_nothing_written(empty_bundle)


def test_an_unknown_quantization_names_the_allowed_ones(
    checkpoint: Path, empty_bundle: Path
) -> None:
    with pytest.raises(ExportFailed, match="unknown quantization 'int2'; known: float16, int8"):
        CoreMLExporter().export(checkpoint, empty_bundle, "int2")  # type: ignore[arg-type]


def test_weights_that_overflow_float16_fail_naming_the_layer(
    checkpoint: Path, tmp_path: Path, empty_bundle: Path
) -> None:
    hot = copy_of(checkpoint, tmp_path)
    weights = load_file(str(hot / "model.safetensors"))
    key = "layoutlm.encoder.layer.1.intermediate.dense.weight"
    weights[key] = weights[key] * 1e6
    save_file(weights, str(hot / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ExportFailed, match=r"overflow float16 at encoder\.layer\.1\.intermediate"):
        CoreMLExporter().export(hot, empty_bundle, Q.FLOAT16)
    assert_nothing_written(empty_bundle)


def test_a_conversion_that_fails_leaves_no_half_written_bundle(
    checkpoint: Path, empty_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def save_then_fail(model: Any, path: Path) -> None:
        path.mkdir()
        (path / "partial.bin").write_bytes(b"half")
        raise ExportFailed("disk full")

    monkeypatch.setattr("receipts.adapters.coreml.exporter.save", save_then_fail)
    with pytest.raises(ExportFailed, match="disk full"):
        CoreMLExporter(validate_f1=False).export(checkpoint, empty_bundle, Q.FLOAT16)
    assert_nothing_written(empty_bundle)


def test_a_bundle_directory_that_is_not_empty_is_refused(
    checkpoint: Path, empty_bundle: Path
) -> None:
    (empty_bundle / "old-model").write_text("keep me")
    with pytest.raises(ExportFailed, match="is not empty"):
        CoreMLExporter().export(checkpoint, empty_bundle, Q.FLOAT16)
    assert (empty_bundle / "old-model").read_text() == "keep me"


def test_a_custom_validation_set_is_scored(
    checkpoint: Path, tmp_path: Path, empty_bundle: Path
) -> None:
    from receipts.adapters.jsonl.label_store import JSONLLabelStore

    dataset = tmp_path / "validation.jsonl"
    JSONLLabelStore(dataset).put(generate_receipts(6, seed=99))
    report = CoreMLExporter(validation_dataset=dataset).export(checkpoint, empty_bundle, Q.INT8)
    assert report.validation["validation_set"] == str(dataset)
    assert report.validation["validation_receipts"] == 6


def test_a_broken_validation_set_is_named(
    checkpoint: Path, tmp_path: Path, empty_bundle: Path
) -> None:
    dataset = tmp_path / "validation.jsonl"
    dataset.write_text("{not json\n")
    with pytest.raises(ExportFailed, match=r"validation data set .*validation.jsonl.*line 1"):
        CoreMLExporter(validation_dataset=dataset).export(checkpoint, empty_bundle, Q.INT8)
    assert_nothing_written(empty_bundle)


def test_a_model_with_512_positions_converts_to_a_1_to_512_range(tmp_path: Path) -> None:
    from receipts.adapters.torch.export_model import ExportableTokenClassifier
    from receipts.adapters.torch.models import build_model

    model = build_model("tiny", ["O", "B-AMOUNT", "I-AMOUNT"], vocab_size=200)
    model.config._attn_implementation = "eager"
    plan = conversion.ConversionPlan(Q.INT8, 512, ["O", "B-AMOUNT", "I-AMOUNT"])
    package = tmp_path / conversion.MODEL_FILE
    conversion.save(conversion.convert(ExportableTokenClassifier(model), 200, plan), package)
    described = conversion.describe_package(package)
    assert described["inputs"]["input_ids"] == {"dtype": "int32", "shape_range": [[1, 1], [1, 512]]}
    assert described["outputs"] == {"logits": "float32", "probabilities": "float32"}


def test_conversion_refuses_lengths_beyond_512() -> None:
    plan = conversion.ConversionPlan(Q.FLOAT16, 513, ["O"])
    with pytest.raises(ExportFailed, match="sequence length 513"):
        conversion.convert(None, 10, plan)  # type: ignore[arg-type]
