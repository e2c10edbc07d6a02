"""Builds OCR engines, the model cache and the OCR worker from the settings."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import get_args

from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ocr.ocr_worker import OCRWorker
from receipts.application.ports.ocr_engine import OCREngine, OCREngineUnavailable
from receipts.application.ports.predictor import Predictor
from receipts.application.queueing.worker_log import WorkerLog
from receipts.bootstrap import Runtime
from receipts.bootstrap.inference import (
    Precision,
    PredictorRuntime,
    archive_extractor,
    load_predictor,
)
from receipts.domain.ocr_job import OCREngineName
from receipts.domain.routing import RoutingPolicy

ENGINES = get_args(OCREngineName)


def build_engine(name: str) -> OCREngine:
    """`tesseract` (needs the tesseract program), `vision` (macOS), `stub` (sidecar JSON)."""
    if name == "tesseract":
        if shutil.which("tesseract") is None:
            raise OCREngineUnavailable(
                "the tesseract program is not installed (apt-get install tesseract-ocr"
                " tesseract-ocr-eng, or brew install tesseract; scripts/setup.sh does it)"
            )
        from receipts.adapters.tesseract.engine import TesseractEngine

        return TesseractEngine()
    if name == "vision":
        if sys.platform != "darwin":
            raise OCREngineUnavailable(
                f"Apple Vision runs on macOS only (this is {sys.platform}); use tesseract"
            )
        from receipts.adapters.apple_vision.engine import AppleVisionEngine

        return AppleVisionEngine()
    if name == "stub":
        from receipts.adapters.stub_ocr.engine import SidecarOCREngine

        return SidecarOCREngine()
    raise OCREngineUnavailable(f"unknown OCR engine {name!r}: choose {', '.join(ENGINES)}")


class EngineCache:
    """Each engine built once, on first use (a job may ask for any of them)."""

    def __init__(self) -> None:
        self._engines: dict[str, OCREngine] = {}

    def __call__(self, name: str) -> OCREngine:
        if name not in self._engines:
            self._engines[name] = build_engine(name)
        return self._engines[name]


def default_model(runtime: Runtime) -> str | None:
    """RECEIPTS_OCR_MODEL, else the best checkpoint of the latest succeeded training job."""
    return runtime.settings.ocr_model or runtime.catalog().latest_best_checkpoint()


def model_cache(
    runtime: Runtime,
    model: str | None = None,
    *,
    predictor_runtime: PredictorRuntime = "auto",
    quantize: Precision = "float32",
    threads: int | None = None,
) -> ModelCache:
    def loader(model_dir: Path, *, source_uri: str | None = None) -> Predictor:
        return load_predictor(
            model_dir,
            runtime=predictor_runtime,
            quantize=quantize,
            threads=threads,
            source_uri=source_uri,
        )

    return ModelCache(
        runtime.artifacts,
        runtime.settings.model_cache_dir,
        loader,
        default=model or default_model(runtime),
        extractor=archive_extractor(runtime.settings),
    )


def build_ocr_worker(
    runtime: Runtime,
    *,
    models: ModelCache,
    log: WorkerLog,
    engine_override: str | None = None,
    policy: RoutingPolicy | None = None,
    worker_name: str | None = None,
    visibility_timeout: float | None = None,
    heartbeat_every: float | None = None,
) -> OCRWorker:
    return OCRWorker(
        ocr_jobs=runtime.ocr_jobs,
        jobs_queue=runtime.queues.ocr_jobs,
        results_queue=runtime.queues.ocr_results,
        artifacts=runtime.artifacts,
        labels=runtime.labels,
        engines=EngineCache(),
        models=models,
        results_prefix=runtime.artifacts_uri(""),
        policy=policy or RoutingPolicy(),
        engine_override=engine_override,
        worker_name=worker_name or f"ocr-worker@{os.uname().nodename}:{os.getpid()}",
        visibility_timeout=visibility_timeout or min(runtime.settings.visibility_timeout, 300.0),
        heartbeat_every=heartbeat_every,
        log=log,
    )
