"""A fake predictor for the report tests: labels each word with its own VALID label, except
the words it is told to get wrong; counts its calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from receipts.domain.labels import OUTSIDE
from receipts.domain.predictions import ModelInfo, ReceiptPrediction, WordPrediction
from receipts.domain.receipt import Receipt


@dataclass
class EchoPredictor:
    wrong_every: int = 5
    """Every n-th word gets a wrong label (n <= 0: none)."""
    source_uri: str = "memory://models/echo/"
    calls: list[str] = field(default_factory=list)

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(model_name="echo", job_id="job-echo", source_uri=self.source_uri)

    def predict(self, receipts: Sequence[Receipt]) -> list[ReceiptPrediction]:
        self.calls += [r.receipt_id for r in receipts]
        return [
            ReceiptPrediction(
                receipt_id=r.receipt_id,
                words=tuple(
                    WordPrediction(
                        word_id=w.word_id,
                        line_id=w.line_id,
                        text=w.text,
                        label=self._label(i, w.label),
                        confidence=0.75,
                    )
                    for i, w in enumerate(r.words)
                ),
            )
            for r in receipts
        ]

    def _label(self, index: int, truth: str) -> str:
        if self.wrong_every > 0 and index % self.wrong_every == 0:
            return "DATE" if truth != "DATE" else OUTSIDE
        return truth
