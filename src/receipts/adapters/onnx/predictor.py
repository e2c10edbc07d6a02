"""An exported ONNX bundle (LayoutLM.onnx, vocab.txt, label_map.json) labelling receipts on
ONNX Runtime: the same windows and merging as the torch predictor, without torch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from receipts.adapters.onnx.runtime import MODEL_FILE, BundleUnusable, ONNXPredictor
from receipts.adapters.torch.encoding import Encoded, run_windows
from receipts.adapters.torch.tokenization import load_tokenizer
from receipts.application.ports.predictor import ModelUnusable
from receipts.application.training.datasets import inference_input
from receipts.domain.decoding import (
    LINE_LABELS_CONFIG_KEY,
    decode_receipt,
    recorded_line_labels,
)
from receipts.domain.labels import entity_labels_of
from receipts.domain.predictions import ModelInfo, ReceiptPrediction
from receipts.domain.receipt import Receipt

DEFAULT_MAX_LENGTH = 512
DEFAULT_STRIDE = 128


class ONNXBundlePredictor:
    def __init__(
        self,
        bundle_dir: Path,
        *,
        threads: int | None = None,
        batch_size: int = 16,
        job_id: str = "",
        source_uri: str | None = None,
    ) -> None:
        try:
            self.session = ONNXPredictor(bundle_dir, threads=threads)
        except BundleUnusable as error:
            raise ModelUnusable(bundle_dir, str(error)) from None
        except Exception as error:  # onnxruntime raises its own types for a corrupt model
            raise ModelUnusable(bundle_dir, f"{MODEL_FILE} does not load: {error}") from None
        try:
            self.tokenizer = load_tokenizer(bundle_dir)
        except (FileNotFoundError, ValueError) as error:
            raise ModelUnusable(bundle_dir, str(error)) from None
        manifest = _json(bundle_dir / "manifest.json")
        config = _json(bundle_dir / "config.json")
        self.max_length = int(str(config.get("max_position_embeddings", DEFAULT_MAX_LENGTH)))
        self.stride = min(DEFAULT_STRIDE, self.max_length // 4)
        self.line_labels = recorded_line_labels(config.get(LINE_LABELS_CONFIG_KEY))
        self.batch_size = batch_size
        tags = self.session.labels
        found = manifest.get("source")
        source: dict[str, Any] = found if isinstance(found, dict) else {}
        self._info = ModelInfo(
            model_name=str(source.get("job_name") or bundle_dir.name),
            job_id=job_id or str(source.get("job_id") or ""),
            source_uri=source_uri or bundle_dir.resolve().as_uri(),
            runtime="onnx",
            device="cpu",
            quantization=str(manifest.get("quantization") or "float32"),
            labels=entity_labels_of(tags),
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def predict(self, receipts: Sequence[Receipt]) -> list[ReceiptPrediction]:
        def run(windows: list[Encoded]) -> list[list[list[float]]]:
            choices = []
            for window, logits in zip(windows, self.session.logits(windows), strict=True):
                rows = logits[window.word_positions]
                shifted = np.exp(rows - rows.max(axis=-1, keepdims=True))
                choices.append((shifted / shifted.sum(axis=-1, keepdims=True)).tolist())
            return choices

        inputs = [inference_input(receipt) for receipt in receipts]
        merged = run_windows(
            inputs, self.tokenizer, None, self.max_length, self.stride, self.batch_size, run
        )
        tags = self.session.labels
        return [
            ReceiptPrediction.from_decoded(
                receipt,
                decode_receipt(tags, rows, [w.line_id for w in receipt.words], self.line_labels),
            )
            for receipt, rows in zip(receipts, merged, strict=True)
        ]


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
