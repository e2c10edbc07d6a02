"""OCR fixtures: a tiny trained model (once per session), rendered synthetic receipts with
their sidecars (exact words, for the stub engine), and runtimes with an OCR worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")


from receipts.adapters.synthetic.generator import generate_receipt, render
from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ocr.ocr_worker import SIDECAR_SUFFIX, OCRWorker
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.inference import load_predictor
from receipts.bootstrap.ocr import build_ocr_worker
from receipts.domain.receipt import Receipt
from receipts.settings import Settings

TEST_SEED = 99
"""Receipts the tiny model never saw (it trains on seed 7)."""


def sidecar(receipt: Receipt) -> dict[str, Any]:
    return {
        "width": receipt.width,
        "height": receipt.height,
        "words": [
            {"text": w.text, "box": w.box.as_list(), "line_id": w.line_id, "confidence": 0.99}
            for w in receipt.words
        ],
    }


def write_receipt_image(directory: Path, index: int, *, with_sidecar: bool = True) -> Path:
    """The rendered synthetic receipt `index` of TEST_SEED (and its sidecar)."""
    receipt, _ = generate_receipt(TEST_SEED, index)
    image = directory / f"receipt-{index}.png"
    render(TEST_SEED, index).save(image)
    if with_sidecar:
        (directory / (image.name + SIDECAR_SUFFIX)).write_text(json.dumps(sidecar(receipt)))
    return image


@pytest.fixture(params=["memory", "local"])
def ocr_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode=request.param, home=tmp_path / "home"))
    yield runtime
    runtime.close()


MakeWorker = Callable[..., OCRWorker]


@pytest.fixture
def make_worker(tiny_model: Path, tmp_path: Path) -> MakeWorker:
    def make(runtime: Runtime, model: str | None = None, **options: Any) -> OCRWorker:
        models = ModelCache(
            runtime.artifacts, tmp_path / "model-cache", load_predictor, default=model
        )
        if model is None:
            models.default = str(tiny_model)
        import logging

        from receipts.application.queueing.worker_log import StdlibWorkerLog

        options.setdefault("log", StdlibWorkerLog("receipts.ocr_worker"))
        logging.getLogger("receipts.ocr_worker").setLevel(logging.INFO)
        return build_ocr_worker(runtime, models=models, **options)

    return make


def upload(runtime: Runtime, image: Path, **submit: Any) -> Any:
    """What `receipts ocr-submit` does: the image (and sidecar) into raw-receipts/, a job."""
    from uuid import uuid4

    job_id = uuid4()
    uri = runtime.artifacts_uri(f"raw-receipts/{job_id}{image.suffix}")
    runtime.artifacts.upload_file(image, uri)
    side = image.with_name(image.name + SIDECAR_SUFFIX)
    if side.is_file():
        runtime.artifacts.upload_file(side, uri + SIDECAR_SUFFIX)
    submit.setdefault("ocr_engine", "stub")
    return runtime.ocr_jobs.submit(uri, ocr_job_id=job_id, **submit)
