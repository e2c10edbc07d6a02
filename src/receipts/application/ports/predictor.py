"""The predictor port: a loaded model that labels every word of a receipt."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from receipts.domain.predictions import ModelInfo, ReceiptPrediction, WordPrediction
from receipts.domain.receipt import Receipt

__all__ = [
    "ModelInfo",
    "ModelUnusable",
    "Predictor",
    "PredictorLoader",
    "ReceiptPrediction",
    "WordPrediction",
]


class ModelUnusable(Exception):
    """The model directory or bundle cannot be loaded; the message names the path and why
    (a missing file, unreadable weights, labels that disagree, a runtime this OS lacks)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"model {path} is unusable: {reason}")
        self.path = Path(path)
        self.reason = reason


class Predictor(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    def predict(self, receipts: Sequence[Receipt]) -> list[ReceiptPrediction]:
        """One ReceiptPrediction per receipt, in order, with exactly one WordPrediction per
        word (receipts longer than the model's window run as overlapping windows). A receipt
        with no words gets an empty prediction. Pixel boxes are normalised with the receipt's
        width and height."""
        ...


class PredictorLoader(Protocol):
    def __call__(self, model_dir: Path, /, *, source_uri: str | None = None) -> Predictor:
        """Loads a checkpoint (HF layout) or an exported bundle; raises ModelUnusable.
        `source_uri`: where the files were downloaded from (recorded in `info`)."""
        ...
