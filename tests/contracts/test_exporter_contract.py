"""Contract tests every Exporter adapter must pass, each built as the export worker builds
it (no arguments): a bundle of the files it reports, refusals that leave nothing behind."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from receipts.application.ports.exporter import BundleReport, Exporter, ExportFailed
from receipts.domain.export_job import ExportOutcome
from receipts.domain.quantization import Quantization

EXPORTERS = {
    # name: (module, class, the library it needs)
    "simulated": ("receipts.adapters.simulated.exporter", "SimulatedExporter", None),
    "coreml": ("receipts.adapters.coreml.exporter", "CoreMLExporter", "coremltools"),
    "onnx": ("receipts.adapters.onnx.exporter", "ONNXExporter", "onnxruntime"),
}
TAGS = ["O", "B-AMOUNT", "I-AMOUNT"]


@pytest.fixture(
    scope="module",
    params=[pytest.param(n, marks=pytest.mark.ml) if EXPORTERS[n][2] else n for n in EXPORTERS],
)
def exporter(request: pytest.FixtureRequest) -> Exporter:
    module_name, class_name, library = EXPORTERS[request.param]
    if library is not None:
        pytest.importorskip("torch")
        pytest.importorskip(library)
    built: Exporter = getattr(importlib.import_module(module_name), class_name)()
    return built


@dataclass(frozen=True)
class Exported:
    bundle: Path
    report: BundleReport


@pytest.fixture(scope="module")
def exported(
    exporter: Exporter, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Exported:
    """One float16 export per exporter, which the tests below inspect."""
    bundle = tmp_path_factory.mktemp("bundle")
    return Exported(bundle, exporter.export(checkpoint, bundle, Quantization.FLOAT16))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LayoutLM checkpoint with random weights, as the trainer saves one."""
    pytest.importorskip("torch")
    from receipts.adapters.synthetic.generator import generate_receipts
    from receipts.adapters.torch.checkpoints import save_checkpoint
    from receipts.adapters.torch.models import build_model
    from receipts.adapters.torch.tokenization import train_tokenizer

    words = [word.text for receipt in generate_receipts(5) for word in receipt.words]
    tokenizer = train_tokenizer(words, vocab_size=300)
    directory = tmp_path_factory.mktemp("checkpoints") / "best"
    save_checkpoint(directory, build_model("tiny", TAGS, len(tokenizer)), tokenizer, {})
    return directory


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    directory = tmp_path / "bundle"
    directory.mkdir()
    return directory


def files_under(directory: Path) -> dict[str, int]:
    return {
        path.relative_to(directory).as_posix(): path.stat().st_size
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_the_report_lists_every_file_written_with_its_size(exported: Exported) -> None:
    report = exported.report
    assert report.file_sizes == files_under(exported.bundle)
    assert {"config.json", "label_map.json", "manifest.json"} <= report.file_sizes.keys()
    labels = json.loads((exported.bundle / "label_map.json").read_text())
    assert labels == {str(i): tag for i, tag in enumerate(TAGS)}


def test_the_report_fits_on_an_export_job(exported: Exported) -> None:
    report = exported.report
    outcome = ExportOutcome(
        bundle_uri="memory://bundles/b/",
        file_sizes=report.file_sizes,
        total_bytes=sum(report.file_sizes.values()),
        validation=report.validation,
    )
    assert ExportOutcome.model_validate_json(outcome.model_dump_json()) == outcome


def test_a_directory_without_a_model_is_refused_and_nothing_written(
    exporter: Exporter, tmp_path: Path, bundle: Path
) -> None:
    empty = tmp_path / "not-a-checkpoint"
    empty.mkdir()
    with pytest.raises(ExportFailed, match=r"config\.json"):
        exporter.export(empty, bundle, Quantization.FLOAT16)
    assert files_under(bundle) == {}
