"""The ONNX exporter: a LayoutLM checkpoint → an ONNX bundle checked against torch.

Steps: check the checkpoint (safetensors only, a LayoutLM with labels and a vocabulary),
export the fp32 graph (dynamic batch and length), require its logits to match torch fp32
at every parity length, quantize it (float16 | int8 | int4), measure the quantized graph
against torch too, then write LayoutLM.onnx beside the shared bundle files (vocab.txt,
config.json, label_map.json, manifest.json). The figures go in `BundleReport.validation`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort
from transformers import LayoutLMForTokenClassification

from receipts.adapters.export_bundle.checkpoint import ExportableCheckpoint, inspect_checkpoint
from receipts.adapters.export_bundle.writer import finish_bundle, known_quantization, staging_area
from receipts.adapters.onnx.graph_export import DYNAMIC_AXES, OPSET, export_graph
from receipts.adapters.onnx.parity import (
    BATCH_SIZES,
    FP32_TOLERANCE,
    LENGTHS,
    Inputs,
    ParityReport,
    compare,
    require_agreement,
    require_finite,
    require_parity,
)
from receipts.adapters.onnx.quantization import quantize_graph
from receipts.adapters.onnx.runtime import MODEL_FILE, open_session
from receipts.adapters.torch.export_model import INPUT_NAMES, OUTPUT_NAMES, load_for_export
from receipts.adapters.torch.export_validation import load_validation_data, probe_inputs
from receipts.adapters.torch.tokenization import load_tokenizer
from receipts.application.ports.exporter import BundleReport, ExportFailed
from receipts.domain.quantization import Quantization

RECEIPT_WINDOWS = 8


class ONNXExporter:
    name = "onnx"

    def __init__(
        self,
        *,
        parity_lengths: Sequence[int] = LENGTHS,
        batch_sizes: Sequence[int] = BATCH_SIZES,
        fp32_tolerance: float = FP32_TOLERANCE,
        min_agreement: float | None = None,
        validation_receipts: int = 16,
        threads: int | None = None,
    ) -> None:
        """`min_agreement`: the share of tokens whose arg-max tag the quantized graph must
        keep (None: measured and reported only). `validation_receipts`: synthetic receipts
        encoded with the checkpoint's tokenizer and compared too (0: none).
        `threads`: ONNX Runtime intra-op threads."""
        if not parity_lengths or not batch_sizes:
            raise ValueError("parity needs at least one length and one batch size")
        if min(batch_sizes) < 1:
            raise ValueError(f"batch sizes must be 1 or more, got {list(batch_sizes)}")
        if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
            raise ValueError(f"min_agreement must be within 0..1, got {min_agreement}")
        self.parity_lengths = tuple(parity_lengths)
        self.batch_sizes = tuple(batch_sizes)
        self.fp32_tolerance = fp32_tolerance
        self.min_agreement = min_agreement
        if validation_receipts < 0:
            raise ValueError(f"validation_receipts must be 0 or more, got {validation_receipts}")
        self.validation_receipts = validation_receipts
        self.threads = threads

    def export(
        self, checkpoint_dir: Path, bundle_dir: Path, quantization: Quantization
    ) -> BundleReport:
        mode = known_quantization(quantization)
        checkpoint = inspect_checkpoint(checkpoint_dir)
        try:
            model = load_for_export(checkpoint.directory)
        except Exception as error:  # safetensors, torch and transformers raise many kinds
            raise ExportFailed(
                f"{checkpoint_dir}: the model does not load ({type(error).__name__}: {error})"
            ) from error
        receipts = self._receipt_windows(checkpoint, model.config.vocab_size)
        timings: dict[str, float] = {}
        with (
            staging_area(bundle_dir) as staging,
            # the fp32 graph (448 MB for base) beside the bundle, not in a small /tmp
            tempfile.TemporaryDirectory(prefix=".onnx-fp32-", dir=staging.parent) as scratch,
        ):
            fp32_path = Path(scratch) / "fp32.onnx"
            started = time.perf_counter()
            try:
                export_graph(model, fp32_path)
            except Exception as error:  # the exporter raises many kinds; all mean the same
                raise ExportFailed(f"torch → ONNX export failed: {error}") from error
            timings["export_graph"] = time.perf_counter() - started

            started = time.perf_counter()
            fp32 = self._compare(model, fp32_path, receipts)
            require_parity(fp32, self.fp32_tolerance, "ONNX fp32")
            timings["validate_fp32"] = time.perf_counter() - started

            model_path = staging / MODEL_FILE
            started = time.perf_counter()
            try:
                quantize_graph(fp32_path, model_path, mode)
            except Exception as error:  # onnx/onnxruntime raise many kinds
                raise ExportFailed(
                    f"{mode.value} quantization of the ONNX graph failed: {error}"
                ) from error
            timings["quantize"] = time.perf_counter() - started

            started = time.perf_counter()
            quantized = self._compare(model, model_path, receipts)
            require_finite(quantized, f"the {mode.value} ONNX graph's")
            if self.min_agreement is not None:
                require_agreement(quantized, self.min_agreement, f"the {mode.value} ONNX graph")
            timings["validate_quantized"] = time.perf_counter() - started

            validation: dict[str, Any] = {
                "reference": "torch fp32",
                "runtime": f"onnxruntime {ort.__version__}",
                "fp32": {**fp32.as_dict(), "tolerance": self.fp32_tolerance},
                mode.value: {**quantized.as_dict(), "min_agreement": self.min_agreement},
                "fp32_bytes": fp32_path.stat().st_size,
                "seconds": {name: round(value, 3) for name, value in timings.items()},
            }
            return finish_bundle(
                staging,
                bundle_dir,
                checkpoint=checkpoint,
                exporter=self.name,
                model_file=MODEL_FILE,
                quantization=mode.value,
                validation=validation,
                model=graph_description(checkpoint.max_positions, len(checkpoint.labels)),
            )

    def _compare(
        self, model: LayoutLMForTokenClassification, graph: Path, receipts: Inputs | None
    ) -> ParityReport:
        session = open_session(graph, self.threads)
        return compare(model, session, self.parity_lengths, self.batch_sizes, receipts=receipts)

    def _receipt_windows(self, checkpoint: ExportableCheckpoint, vocab_size: int) -> Inputs | None:
        """A padded batch of up to 8 windows of synthetic validation receipts."""
        if not self.validation_receipts:
            return None
        try:
            tokenizer = load_tokenizer(checkpoint.directory)
        except (OSError, ValueError) as error:
            raise ExportFailed(
                f"{checkpoint.directory}: the tokenizer does not load ({error})"
            ) from None
        data = load_validation_data(checkpoint, None, self.validation_receipts)
        probes = probe_inputs(data, tokenizer, vocab_size, windows=RECEIPT_WINDOWS)
        if len(probes) < 2:  # only the random probe: no receipt made a window
            return None
        ids, bbox, mask = (tensor.numpy() for tensor in probes[0])
        return ids, bbox, mask


def graph_description(max_positions: int, labels: int) -> dict[str, Any]:
    """What a runtime needs to feed the graph, for the manifest."""
    return {
        "format": "onnx",
        "opset": OPSET,
        "inputs": {
            "input_ids": ["batch", "sequence", "int32"],
            "bbox": ["batch", "sequence", 4, "int32"],
            "attention_mask": ["batch", "sequence", "int32"],
        },
        "outputs": {name: ["batch", "sequence", labels, "float32"] for name in OUTPUT_NAMES},
        "input_names": list(INPUT_NAMES),
        "dynamic_axes": sorted({axis for axes in DYNAMIC_AXES.values() for axis in axes.values()}),
        "max_sequence_length": max_positions,
    }
