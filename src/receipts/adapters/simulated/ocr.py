"""An OCR engine and a predictor that answer at once, for `receipts simulate`: the OCR
worker runs for real (download, read, label, upload, record) without an image or a model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from receipts.domain.boxes import BoundingBox
from receipts.domain.ocr import OCRResult, OCRWord
from receipts.domain.predictions import ModelInfo, ReceiptPrediction, WordPrediction
from receipts.domain.receipt import Receipt

_LINES = (("SHOP", "SDN", "BHD"), ("25/12/2023",), ("TOTAL", "12.50"))
_LABELS = {"SHOP": "COMPANY", "SDN": "COMPANY", "BHD": "COMPANY", "25/12/2023": "DATE"}


class SimulatedOCREngine:
    """Three lines of a receipt, whatever the image."""

    name = "simulated"

    def recognize(self, image_path: Path) -> OCRResult:
        words: list[OCRWord] = []
        for line_id, line in enumerate(_LINES):
            for column, text in enumerate(line):
                x0, y0 = 10 + 60 * column, 10 + 30 * line_id
                words.append(
                    OCRWord(
                        word_id=len(words),
                        line_id=line_id,
                        text=text,
                        box=BoundingBox(x0=x0, y0=y0, x1=x0 + 50, y1=y0 + 20),
                        confidence=0.99,
                    )
                )
        return OCRResult(width=300, height=120, words=tuple(words))


class SimulatedPredictor:
    """Labels the company, the date and the total (the word after TOTAL)."""

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(model_name="simulated", source_uri="simulated://model")

    def predict(self, receipts: Sequence[Receipt]) -> list[ReceiptPrediction]:
        return [
            ReceiptPrediction(
                receipt_id=receipt.receipt_id,
                words=tuple(
                    WordPrediction(
                        word_id=word.word_id,
                        line_id=word.line_id,
                        text=word.text,
                        label=_label(receipt, index),
                        confidence=0.97,
                    )
                    for index, word in enumerate(receipt.words)
                ),
            )
            for receipt in receipts
        ]


def _label(receipt: Receipt, index: int) -> str:
    text = receipt.words[index].text
    if index and receipt.words[index - 1].text == "TOTAL":
        return "TOTAL"
    return _LABELS.get(text, "O")
