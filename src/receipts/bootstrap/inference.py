"""Which predictor runs a model, and what the two inference Lambdas share: the cache, the
label store and the model.

- The cache is in the artifact store at the seed's keys; `S3_CACHE_BUCKET` (the seed's
  variable, `Settings.inference_cache_bucket`) puts it in another bucket (aws mode).
- Labels come from the seeds' single table (`DynamoDBLabelStore`, aws mode).
- The model is `MODEL_S3_URI` (the seed's variable, `Settings.inference_model`: a checkpoint
  or bundle prefix, or SageMaker's `model.tar.gz`), else the best checkpoint of the job that
  succeeded last. It is downloaded (unpacked) once per container under
  `/tmp/layoutlm-model/` by `application.model_files`, the loader every consumer shares, and
  loaded once (torch is imported only then).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

from receipts.adapters.archives import SafeTarExtractor
from receipts.application.inference.cache import InferenceCache, InferenceReports, NoModel
from receipts.application.model_files import ModelDirectories, is_archive
from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.predictor import ModelUnusable, Predictor
from receipts.bootstrap import Runtime
from receipts.domain.errors import DomainError
from receipts.domain.labels import ValidationStatus
from receipts.domain.receipt import Receipt
from receipts.settings import Settings

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


def archive_extractor(settings: Settings) -> SafeTarExtractor:
    """The safe extractor every model loader unpacks archives with, at the settings' limits."""
    return SafeTarExtractor(settings.archive_limits)


def model_directories(runtime: Runtime, cache_dir: Path | None = None) -> ModelDirectories:
    """The one loader of model URIs (directory, `file://`, store prefix, `model.tar.gz`),
    caching under `cache_dir` (default: the settings' model cache)."""
    return ModelDirectories(
        runtime.artifacts,
        cache_dir or runtime.settings.model_cache_dir,
        archive_extractor(runtime.settings),
    )


_lock = threading.Lock()
_predictors: dict[str, Predictor] = {}


class NoLabelStore(DomainError):
    def __init__(self, mode: str) -> None:
        super().__init__(
            f"the inference Lambdas read labels from DynamoDB (aws mode); this is {mode} mode"
        )


def inference_cache(runtime: Runtime) -> InferenceCache:
    bucket = runtime.settings.inference_cache_bucket
    if bucket and runtime.settings.mode == "aws":
        return InferenceCache(runtime.artifacts, lambda key: f"s3://{bucket}/{key}")
    return InferenceCache(runtime.artifacts, runtime.artifacts_uri)


def label_store(runtime: Runtime) -> LabelStore:
    if runtime.settings.mode != "aws":
        raise NoLabelStore(runtime.settings.mode)
    return runtime.labels


def model_uri(runtime: Runtime) -> str:
    """`MODEL_S3_URI`, else the best checkpoint of the last job that succeeded."""
    uri = runtime.settings.inference_model or runtime.catalog().latest_best_checkpoint()
    if not uri:
        raise NoModel("no model to run: set MODEL_S3_URI or let a training job succeed first")
    return uri


def stored_predictor(runtime: Runtime, uri: str, directory: Path | None = None) -> Predictor:
    """The model at `uri` in the artifact store, downloaded (`ModelCache`) and loaded once
    per container."""
    with _lock:
        if uri not in _predictors:
            source = uri if is_archive(uri) or uri.endswith("/") else uri + "/"
            models = ModelCache(
                runtime.artifacts,
                directory or Path(tempfile.gettempdir()) / "layoutlm-model",
                load_predictor,
                extractor=archive_extractor(runtime.settings),
            )
            try:
                _predictors[uri] = models.get(source)
            except ModelUnusable as error:
                raise NoModel(str(error)) from None
        return _predictors[uri]


def forget_predictors() -> None:
    """Drops the loaded models (tests)."""
    with _lock:
        _predictors.clear()


ReportsFactory = Callable[[Runtime], InferenceReports]


def reports_from_env(runtime: Runtime) -> InferenceReports:
    """The use cases as the environment wires them; the model is loaded only when one has
    to run. Outside aws mode there is no label store: only cached reports are served."""
    labels: LabelStore = (
        label_store(runtime)
        if runtime.settings.mode == "aws"
        else UnavailableLabelStore(runtime.settings.mode)
    )
    return InferenceReports(
        labels=labels,
        cache=inference_cache(runtime),
        predictor=lambda: stored_predictor(runtime, model_uri(runtime)),
    )


class UnavailableLabelStore:
    """Refuses every use with `NoLabelStore` (naming the mode)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    @property
    def source(self) -> str:
        return f"no label store ({self.mode} mode)"

    def receipts(self) -> Iterator[Receipt]:
        raise NoLabelStore(self.mode)

    def get(self, receipt_id: str) -> Receipt:
        raise NoLabelStore(self.mode)

    def put(self, receipts: Iterable[Receipt]) -> None:
        raise NoLabelStore(self.mode)

    def set_validation_status(
        self, receipt_id: str, word_id: int, status: ValidationStatus
    ) -> None:
        raise NoLabelStore(self.mode)

    def count_labels(self) -> dict[str, dict[str, int]]:
        raise NoLabelStore(self.mode)
