"""One receipt image read end to end: OCR → LayoutLM → fields → routing decision.

Shared by the OCR worker (queued jobs) and `receipts ocr` (one local file, no queue)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from receipts.application.ports.ocr_engine import OCREngine, OCRFailed
from receipts.application.ports.predictor import Predictor
from receipts.domain.labels import OUTSIDE, ValidationStatus
from receipts.domain.ocr import OCRResult
from receipts.domain.ocr_job import RoutingDecision
from receipts.domain.predictions import ModelInfo, ReceiptPrediction
from receipts.domain.receipt import Receipt, Word
from receipts.domain.routing import Routing, RoutingPolicy

RESULT_FORMAT = 1


class NoWordsFound(OCRFailed):
    """OCR ran but found no text: nothing to label (a blank or unreadable photo)."""

    def __init__(self, image_path: Path | str) -> None:
        super().__init__(image_path, "no words found in the image (blank or unreadable?)")


@dataclass(frozen=True)
class ReceiptReading:
    receipt_id: str
    image_uri: str
    engine: str
    ocr: OCRResult
    prediction: ReceiptPrediction
    routing: Routing
    model: ModelInfo
    ocr_seconds: float
    inference_seconds: float

    @property
    def fields(self) -> dict[str, str]:
        return self.prediction.fields()

    @property
    def line_items(self) -> list[dict[str, str]]:
        return self.prediction.line_items()

    @property
    def labelled_words(self) -> int:
        return len(self.prediction.entity_words())

    def labelled_receipt(self) -> Receipt:
        """The word-label record: every OCR word with its predicted label. An auto-accepted
        receipt's labels are VALID (they train the next model); otherwise NEEDS_REVIEW until
        a reviewer sets them VALID or INVALID."""
        status = (
            ValidationStatus.VALID
            if self.routing.decision is RoutingDecision.AUTO_ACCEPT
            else ValidationStatus.NEEDS_REVIEW
        )
        return Receipt(
            receipt_id=self.receipt_id,
            source=f"ocr:{self.engine}",
            width=self.ocr.width,
            height=self.ocr.height,
            image=self.image_uri,
            fields=self.fields,
            words=tuple(
                Word(
                    word_id=word.word_id,
                    line_id=word.line_id,
                    text=word.text,
                    box=word.box,
                    label=predicted.label,
                    validation_status=(
                        ValidationStatus.VALID if predicted.label == OUTSIDE else status
                    ),
                )
                for word, predicted in zip(self.ocr.words, self.prediction.words, strict=True)
            ),
        )

    def ocr_document(self) -> dict[str, Any]:
        """What OCR saw (the seeds' `ocr_results/` object)."""
        return {
            "format": RESULT_FORMAT,
            "receipt_id": self.receipt_id,
            "image_uri": self.image_uri,
            "engine": self.engine,
            "seconds": round(self.ocr_seconds, 4),
            **self.ocr.model_dump(mode="json"),
        }

    def labels_document(self) -> dict[str, Any]:
        """What the model made of it (the seeds' `receipts/` object): every word with its
        label and confidence, the fields, line items, the routing decision and the model."""
        record = self.labelled_receipt()
        return {
            "format": RESULT_FORMAT,
            "receipt_id": self.receipt_id,
            "image_uri": self.image_uri,
            "width": self.ocr.width,
            "height": self.ocr.height,
            "routing": self.routing.model_dump(mode="json"),
            "fields": self.fields,
            "line_items": self.line_items,
            "model": self.model.model_dump(mode="json"),
            "timings": {
                "ocr_seconds": round(self.ocr_seconds, 4),
                "inference_seconds": round(self.inference_seconds, 4),
            },
            "words": [
                {
                    "word_id": word.word_id,
                    "line_id": word.line_id,
                    "text": word.text,
                    "box": word.box.as_list(),
                    "ocr_confidence": round(word.confidence, 4),
                    "label": predicted.label,
                    "confidence": round(predicted.confidence, 4),
                    "validation_status": stored.validation_status.value,
                }
                for word, predicted, stored in zip(
                    self.ocr.words, self.prediction.words, record.words, strict=True
                )
            ],
        }

    def documents(self) -> dict[str, bytes]:
        """The result objects by role, as JSON bytes."""
        return {
            "ocr": _json_bytes(self.ocr_document()),
            "labels": _json_bytes(self.labels_document()),
        }


def read_receipt(
    image: Path,
    *,
    receipt_id: str,
    engine: OCREngine,
    predictor: Predictor,
    policy: RoutingPolicy,
    image_uri: str | None = None,
) -> ReceiptReading:
    """Raises OCRFailed (NoWordsFound for an image without text) naming the image."""
    started = time.perf_counter()
    ocr = engine.recognize(image)
    ocr_seconds = time.perf_counter() - started
    if not ocr.words:
        raise NoWordsFound(image)
    receipt = ocr.to_receipt(receipt_id, source=f"ocr:{engine.name}")
    started = time.perf_counter()
    [prediction] = predictor.predict([receipt])
    inference_seconds = time.perf_counter() - started
    return ReceiptReading(
        receipt_id=receipt_id,
        image_uri=image_uri or image.resolve().as_uri(),
        engine=engine.name,
        ocr=ocr,
        prediction=prediction,
        routing=policy.decide(prediction),
        model=predictor.info,
        ocr_seconds=ocr_seconds,
        inference_seconds=inference_seconds,
    )


def _json_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
