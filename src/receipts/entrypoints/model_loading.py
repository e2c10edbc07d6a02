"""Which predictor runs a model directory: a checkpoint (torch) or an exported bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from receipts.application.ports.predictor import ModelUnusable, Predictor

PredictorRuntime = Literal["auto", "torch", "onnx"]
Precision = Literal["float32", "bfloat16", "int8"]


def load_predictor(
    path: Path,
    *,
    runtime: PredictorRuntime = "auto",
    quantize: Precision = "float32",
    threads: int | None = None,
    job_id: str = "",
    source_uri: str | None = None,
) -> Predictor:
    """`auto`: a bundle with LayoutLM.onnx runs on ONNX Runtime, a checkpoint (config.json +
    model.safetensors, or a run directory with best/) on torch. Raises ModelUnusable."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelUnusable(path, "no such file or directory")
    if runtime == "onnx" or (runtime == "auto" and (path / "LayoutLM.onnx").is_file()):
        from receipts.adapters.onnx.predictor import ONNXBundlePredictor

        return ONNXBundlePredictor(path, threads=threads, job_id=job_id, source_uri=source_uri)
    weights = (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    if runtime == "auto" and (path / "LayoutLM.mlpackage").exists() and not weights:
        raise ModelUnusable(
            path,
            "it holds only a CoreML model (LayoutLM.mlpackage), which runs on Apple"
            " devices; give the checkpoint it was exported from, or an ONNX bundle"
            " (receipts export-worker --exporter onnx)",
        )
    from receipts.adapters.torch.predictor import TorchPredictor

    return TorchPredictor(
        path, quantize=quantize, threads=threads, job_id=job_id, source_uri=source_uri
    )
