"""A model's predictions on one receipt beside its ground truth: the inference report.

Semantics of the comparison:

- A word has a verdict when its label is VALID (O included: a VALID O word is known to be
  outside every entity). INVALID and NEEDS_REVIEW labels give no verdict: the word gets no
  `ground_truth_label` or `is_correct` and is left out of the metrics.
- Ground truth is compared as the model was trained: `label_map` maps a stored label to the
  one it counts as. By default it is read off the model's labels (`fair_label_map`): a
  merge preset whose target the model knows and whose source it does not (a model trained
  with `amounts` knows AMOUNT, not LINE_TOTAL) maps the source to the target, and a label
  the model does not know at all counts as O, as training's whitelist made it.
- `overall_accuracy`: correct words / words with a verdict (0.0 when none has one).
- Per-label precision, recall and F1 are word-level, over the words with a verdict, for
  every entity label (not O) that is predicted or true on one of them. A label never
  predicted has precision 0; one never true has recall 0 (as scikit-learn's
  `zero_division=0`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from receipts.application.inference.response import (
    ExtractedFields,
    InferenceMetrics,
    InferenceResponse,
    LinePredictionRecord,
    LineRecord,
    OriginalReceipt,
    PixelBox,
    ReceiptRecord,
    ResponseModelInfo,
    WordLabelRecord,
    WordPredictionRecord,
    WordRecord,
)
from receipts.domain.aggregate import utc_now
from receipts.domain.boxes import BoundingBox
from receipts.domain.labels import MERGE_PRESETS, OUTSIDE, ValidationStatus
from receipts.domain.predictions import ModelInfo, ReceiptPrediction
from receipts.domain.receipt import Receipt, Word


class PredictionMismatch(ValueError):
    """The prediction is not of this receipt, or does not label each of its words once."""


def fair_label_map(model_labels: Iterable[str]) -> dict[str, str]:
    """Stored label → compared label, for a model that knows `model_labels` (see module)."""
    known = set(model_labels)
    if not known:
        return {}
    mapping: dict[str, str] = {}
    for preset in MERGE_PRESETS.values():
        for target, sources in preset.items():
            if target not in known:
                continue
            for source in sources:
                if source not in known:
                    mapping[source] = target
    return mapping


def compared_label(label: str, label_map: Mapping[str, str], model_labels: set[str]) -> str:
    mapped = label_map.get(label, label)
    if model_labels and mapped != OUTSIDE and mapped not in model_labels:
        return OUTSIDE
    return mapped


def build_inference_response(
    receipt: Receipt,
    prediction: ReceiptPrediction,
    model: ModelInfo,
    *,
    label_map: Mapping[str, str] | None = None,
    cached_at: datetime | None = None,
) -> InferenceResponse:
    """The seed's response for one receipt. `label_map` None: `fair_label_map(model.labels)`."""
    predicted = _predictions_by_word(receipt, prediction)
    model_labels = set(model.labels)
    mapping = dict(fair_label_map(model_labels) if label_map is None else label_map)
    truths = {
        word.word_id: compared_label(word.label, mapping, model_labels)
        for word in receipt.words
        if word.validation_status is ValidationStatus.VALID
    }
    predictions = [
        _word_prediction(word, *predicted[word.word_id], truths.get(word.word_id))
        for word in receipt.words
    ]
    used_map = {
        word.label: truths[word.word_id]
        for word in receipt.words
        if word.word_id in truths and word.label != truths[word.word_id]
    }
    return InferenceResponse(
        original=OriginalReceipt(
            receipt=_receipt_record(receipt),
            lines=_line_records(receipt),
            words=[_word_record(receipt, word) for word in receipt.words],
            ground_truth_labels=[
                WordLabelRecord(
                    image_id=receipt.receipt_id,
                    receipt_id=receipt.receipt_id,
                    line_id=word.line_id,
                    word_id=word.word_id,
                    label=word.label,
                    validation_status=word.validation_status.value,
                )
                for word in receipt.words
                if word.validation_status is ValidationStatus.VALID and word.label != OUTSIDE
            ],
            predictions=predictions,
            line_predictions=_line_predictions(predictions),
        ),
        metrics=word_metrics(predictions, dict(sorted(used_map.items()))),
        model_info=ResponseModelInfo(
            model_name=model.model_name,
            job_id=model.job_id,
            s3_uri=model.source_uri,
            device=_device(model.device),
            runtime=model.runtime,
            quantization=model.quantization,
            labels=list(model.labels),
        ),
        cached_at=cached_at or utc_now(),
        extracted=ExtractedFields(fields=prediction.fields(), line_items=prediction.line_items()),
    )


def word_metrics(
    predictions: list[WordPredictionRecord], label_map: dict[str, str] | None = None
) -> InferenceMetrics:
    judged = [p for p in predictions if p.ground_truth_label is not None]
    correct = sum(1 for p in judged if p.is_correct)
    labels = sorted(
        {p.predicted_label for p in judged} | {str(p.ground_truth_label) for p in judged}
    )
    precision: dict[str, float] = {}
    recall: dict[str, float] = {}
    f1: dict[str, float] = {}
    support: dict[str, int] = {}
    for label in labels:
        if label == OUTSIDE:
            continue
        true_positive = sum(
            1 for p in judged if p.predicted_label == label and p.ground_truth_label == label
        )
        predicted = sum(1 for p in judged if p.predicted_label == label)
        actual = sum(1 for p in judged if p.ground_truth_label == label)
        p_value = true_positive / predicted if predicted else 0.0
        r_value = true_positive / actual if actual else 0.0
        precision[label] = p_value
        recall[label] = r_value
        f1[label] = 2 * p_value * r_value / (p_value + r_value) if p_value + r_value else 0.0
        support[label] = actual
    return InferenceMetrics(
        overall_accuracy=correct / len(judged) if judged else 0.0,
        per_label_f1=f1,
        per_label_precision=precision,
        per_label_recall=recall,
        per_label_support=support,
        evaluated_words=len(judged),
        correct_words=correct,
        label_map=label_map or {},
    )


def _predictions_by_word(
    receipt: Receipt, prediction: ReceiptPrediction
) -> dict[int, tuple[str, float]]:
    if prediction.receipt_id != receipt.receipt_id:
        raise PredictionMismatch(
            f"prediction of receipt {prediction.receipt_id!r} given for {receipt.receipt_id!r}"
        )
    by_word: dict[int, tuple[str, float]] = {}
    for word in prediction.words:
        if word.word_id in by_word:
            raise PredictionMismatch(
                f"receipt {receipt.receipt_id!r}: word {word.word_id} is predicted twice"
            )
        by_word[word.word_id] = (word.label, word.confidence)
    expected = {word.word_id for word in receipt.words}
    if set(by_word) != expected:
        missing = sorted(expected - set(by_word))[:5]
        extra = sorted(set(by_word) - expected)[:5]
        raise PredictionMismatch(
            f"receipt {receipt.receipt_id!r}: predictions do not match its words"
            f" (missing {missing}, unknown {extra})"
        )
    return by_word


def _word_prediction(
    word: Word, label: str, confidence: float, truth: str | None
) -> WordPredictionRecord:
    return WordPredictionRecord(
        word_id=word.word_id,
        line_id=word.line_id,
        text=word.text,
        predicted_label=label,
        predicted_confidence=confidence,
        ground_truth_label=truth,
        is_correct=None if truth is None else label == truth,
    )


def _line_predictions(predictions: list[WordPredictionRecord]) -> list[LinePredictionRecord]:
    lines: dict[int, list[WordPredictionRecord]] = {}
    for p in predictions:
        lines.setdefault(p.line_id, []).append(p)
    records = []
    for line_id in sorted(lines):
        words = lines[line_id]
        truths = [p.ground_truth_label for p in words]
        records.append(
            LinePredictionRecord(
                line_id=line_id,
                tokens=[p.text for p in words],
                predicted_labels=[p.predicted_label for p in words],
                confidences=[p.predicted_confidence for p in words],
                ground_truth_labels=truths if any(t is not None for t in truths) else None,
            )
        )
    return records


def _receipt_record(receipt: Receipt) -> ReceiptRecord:
    return ReceiptRecord(
        image_id=receipt.receipt_id,
        receipt_id=receipt.receipt_id,
        width=receipt.width,
        height=receipt.height,
        source=receipt.source,
        image=receipt.image,
        fields=dict(receipt.fields),
    )


def _line_records(receipt: Receipt) -> list[LineRecord]:
    lines = receipt.lines()
    return [
        LineRecord(
            image_id=receipt.receipt_id,
            receipt_id=receipt.receipt_id,
            line_id=line_id,
            text=" ".join(word.text for word in lines[line_id]),
            bounding_box=_pixel_box(_union(word.box for word in lines[line_id])),
        )
        for line_id in sorted(lines)
    ]


def _word_record(receipt: Receipt, word: Word) -> WordRecord:
    return WordRecord(
        image_id=receipt.receipt_id,
        receipt_id=receipt.receipt_id,
        line_id=word.line_id,
        word_id=word.word_id,
        text=word.text,
        bounding_box=_pixel_box(word.box),
    )


def _union(boxes: Iterable[BoundingBox]) -> BoundingBox:
    listed = list(boxes)
    return BoundingBox(
        x0=min(b.x0 for b in listed),
        y0=min(b.y0 for b in listed),
        x1=max(b.x1 for b in listed),
        y1=max(b.y1 for b in listed),
    )


def _pixel_box(box: BoundingBox) -> PixelBox:
    return PixelBox(x=box.x0, y=box.y0, width=box.x1 - box.x0, height=box.y1 - box.y0)


def _device(device: str) -> str:
    """`cuda:0` → `cuda`, as the seed's `"cpu" | "cuda"`."""
    return device.split(":", 1)[0]
