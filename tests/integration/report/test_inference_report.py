"""The inference report's JSON: the seed's structure, the verdict per word, the metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts.adapters.synthetic.generator import generate_receipt
from receipts.application.inference.report import (
    PredictionMismatch,
    build_inference_response,
    fair_label_map,
)
from receipts.application.inference.response import InferenceResponse
from receipts.domain.boxes import BoundingBox
from receipts.domain.labels import OUTSIDE, ValidationStatus, merge_map
from receipts.domain.predictions import ModelInfo, ReceiptPrediction, WordPrediction
from receipts.domain.receipt import Receipt, Word

SEED_TOP = {"original", "metrics", "model_info", "cached_at"}
SEED_ORIGINAL = {
    "receipt",
    "lines",
    "words",
    "ground_truth_labels",
    "predictions",
    "line_predictions",
}
SEED_METRICS = {"overall_accuracy", "per_label_f1", "per_label_precision", "per_label_recall"}
SEED_MODEL_INFO = {"model_name", "job_id", "s3_uri", "device"}
SEED_PREDICTION = {"word_id", "line_id", "text", "predicted_label", "predicted_confidence"}
SEED_LINE = {"line_id", "tokens", "predicted_labels", "confidences"}
MODEL = ModelInfo(
    model_name="run/best",
    job_id="job-1",
    source_uri="s3://bucket/runs/job-1/best/",
    device="cuda:0",
    labels=("MERCHANT_NAME", "DATE", "AMOUNT"),
)


def word(word_id: int, line_id: int, text: str, label: str = OUTSIDE, **kw: object) -> Word:
    box = BoundingBox(x0=10 * word_id, y0=20 * line_id, x1=10 * word_id + 8, y1=20 * line_id + 15)
    return Word(word_id=word_id, line_id=line_id, text=text, box=box, label=label, **kw)  # type: ignore[arg-type]


def predicted(receipt: Receipt, labels: list[str], confidence: float = 0.9) -> ReceiptPrediction:
    return ReceiptPrediction(
        receipt_id=receipt.receipt_id,
        words=tuple(
            WordPrediction(
                word_id=w.word_id,
                line_id=w.line_id,
                text=w.text,
                label=label,
                confidence=confidence,
            )
            for w, label in zip(receipt.words, labels, strict=True)
        ),
    )


HAND_MADE = Receipt(
    receipt_id="r-1",
    width=200,
    height=100,
    words=(
        word(0, 0, "ACME", "MERCHANT_NAME"),
        word(1, 0, "MART", "MERCHANT_NAME"),
        word(2, 1, "2024-01-02", "DATE"),
        word(3, 1, "thanks"),
        word(4, 2, "TOTAL"),
        word(5, 2, "9.99", "GRAND_TOTAL"),
        word(6, 3, "3.50", "LINE_TOTAL", validation_status=ValidationStatus.NEEDS_REVIEW),
        word(7, 3, "x", "PHONE_NUMBER"),
    ),
)
# MART missed, "thanks" taken for a date, 9.99 right once GRAND_TOTAL counts as AMOUNT,
# the NEEDS_REVIEW word has no verdict, PHONE_NUMBER (unknown to the model) counts as O.
HAND_PREDICTED = ["MERCHANT_NAME", OUTSIDE, "DATE", "DATE", OUTSIDE, "AMOUNT", "DATE", OUTSIDE]


def test_the_response_has_the_seeds_keys_and_timestamps_with_an_explicit_offset() -> None:
    moment = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    response = build_inference_response(
        HAND_MADE, predicted(HAND_MADE, HAND_PREDICTED), MODEL, cached_at=moment
    )
    data = json.loads(response.to_json())

    assert set(data) >= SEED_TOP
    assert set(data["original"]) == SEED_ORIGINAL
    assert set(data["metrics"]) >= SEED_METRICS
    assert set(data["model_info"]) >= SEED_MODEL_INFO
    assert data["cached_at"] == "2025-03-04T03:06:07+00:00"
    assert data["model_info"]["device"] == "cuda"
    assert data["model_info"]["s3_uri"] == MODEL.source_uri
    for p in data["original"]["predictions"]:
        assert SEED_PREDICTION <= set(p) <= SEED_PREDICTION | {"ground_truth_label", "is_correct"}
    for line in data["original"]["line_predictions"]:
        assert SEED_LINE <= set(line) <= SEED_LINE | {"ground_truth_labels"}
    assert InferenceResponse.from_json(response.to_json()) == response


def test_only_valid_labels_are_ground_truth_and_merges_compare_as_the_model_was_trained() -> None:
    response = build_inference_response(HAND_MADE, predicted(HAND_MADE, HAND_PREDICTED), MODEL)
    by_word = {p.word_id: p for p in response.original.predictions}

    assert [(g.word_id, g.label) for g in response.original.ground_truth_labels] == [
        (0, "MERCHANT_NAME"),
        (1, "MERCHANT_NAME"),
        (2, "DATE"),
        (5, "GRAND_TOTAL"),
        (7, "PHONE_NUMBER"),
    ]
    assert by_word[5].ground_truth_label == "AMOUNT" and by_word[5].is_correct is True
    assert by_word[1].is_correct is False
    assert by_word[3].ground_truth_label == OUTSIDE and by_word[3].is_correct is False
    assert by_word[6].ground_truth_label is None and by_word[6].is_correct is None
    assert by_word[7].ground_truth_label == OUTSIDE and by_word[7].is_correct is True
    assert response.metrics.label_map == {"GRAND_TOTAL": "AMOUNT", "PHONE_NUMBER": OUTSIDE}


def test_metrics_on_a_hand_made_case() -> None:
    metrics = build_inference_response(
        HAND_MADE, predicted(HAND_MADE, HAND_PREDICTED), MODEL
    ).metrics

    # 7 words with a verdict; right: ACME, 2024-01-02, TOTAL, 9.99, x
    assert metrics.evaluated_words == 7
    assert metrics.overall_accuracy == pytest.approx(5 / 7)
    assert metrics.per_label_precision == {"AMOUNT": 1.0, "DATE": 0.5, "MERCHANT_NAME": 1.0}
    assert metrics.per_label_recall == {"AMOUNT": 1.0, "DATE": 1.0, "MERCHANT_NAME": 0.5}
    assert metrics.per_label_f1["DATE"] == pytest.approx(2 / 3)
    assert metrics.per_label_f1["MERCHANT_NAME"] == pytest.approx(2 / 3)
    assert metrics.per_label_support == {"AMOUNT": 1, "DATE": 1, "MERCHANT_NAME": 2}


def test_an_explicit_label_map_replaces_the_one_read_off_the_model() -> None:
    unmerged = ModelInfo(model_name="m", labels=())
    plain = build_inference_response(HAND_MADE, predicted(HAND_MADE, HAND_PREDICTED), unmerged)
    merged = build_inference_response(
        HAND_MADE,
        predicted(HAND_MADE, HAND_PREDICTED),
        unmerged,
        label_map=merge_map(["amounts"]),
    )

    assert plain.original.predictions[5].is_correct is False
    assert merged.original.predictions[5].is_correct is True


def test_the_label_map_follows_the_models_labels() -> None:
    assert fair_label_map(["AMOUNT", "DATE"]) == {
        "LINE_TOTAL": "AMOUNT",
        "SUBTOTAL": "AMOUNT",
        "TAX": "AMOUNT",
        "GRAND_TOTAL": "AMOUNT",
        "TIME": "DATE",
    }
    assert fair_label_map(["DATE", "TIME", "GRAND_TOTAL"]) == {}
    assert fair_label_map([]) == {}


def test_lines_hold_their_words_in_order_with_ground_truth_aligned() -> None:
    response = build_inference_response(HAND_MADE, predicted(HAND_MADE, HAND_PREDICTED), MODEL)
    lines = {line.line_id: line for line in response.original.line_predictions}

    assert lines[0].tokens == ["ACME", "MART"]
    assert lines[0].ground_truth_labels == ["MERCHANT_NAME", "MERCHANT_NAME"]
    assert lines[3].ground_truth_labels == [None, OUTSIDE]
    assert response.original.lines[2].text == "TOTAL 9.99"
    assert response.original.lines[2].bounding_box.width == pytest.approx(18)


def test_a_prediction_that_does_not_cover_the_receipt_is_refused() -> None:
    short = ReceiptPrediction(
        receipt_id="r-1", words=predicted(HAND_MADE, HAND_PREDICTED).words[:-1]
    )
    with pytest.raises(PredictionMismatch, match="missing \\[7\\]"):
        build_inference_response(HAND_MADE, short, MODEL)
    with pytest.raises(PredictionMismatch, match="'other'"):
        build_inference_response(HAND_MADE, ReceiptPrediction(receipt_id="other", words=()), MODEL)


LABELS = st.sampled_from([OUTSIDE, "MERCHANT_NAME", "DATE", "AMOUNT", "PRODUCT_NAME"])


@settings(max_examples=40, deadline=None)
@given(
    index=st.integers(0, 30),
    data=st.data(),
    statuses=st.lists(st.sampled_from(list(ValidationStatus)), min_size=1, max_size=5),
)
def test_every_word_appears_once_in_predictions_and_once_in_lines(
    index: int, data: st.DataObject, statuses: list[ValidationStatus]
) -> None:
    receipt, _ = generate_receipt(11, index)
    words = tuple(
        w.model_copy(update={"validation_status": statuses[i % len(statuses)]})
        for i, w in enumerate(receipt.words)
    )
    receipt = receipt.model_copy(update={"words": words})
    labels = data.draw(st.lists(LABELS, min_size=len(words), max_size=len(words)))
    confidences = data.draw(st.lists(st.floats(0, 1), min_size=len(words), max_size=len(words)))
    prediction = ReceiptPrediction(
        receipt_id=receipt.receipt_id,
        words=tuple(
            WordPrediction(
                word_id=w.word_id, line_id=w.line_id, text=w.text, label=lab, confidence=c
            )
            for w, lab, c in zip(words, labels, confidences, strict=True)
        ),
    )

    response = build_inference_response(receipt, prediction, MODEL, cached_at=datetime.now(UTC))

    ids = [w.word_id for w in words]
    assert [p.word_id for p in response.original.predictions] == ids
    in_lines = [
        (line.line_id, token)
        for line in response.original.line_predictions
        for token in line.tokens
    ]
    assert sorted(in_lines) == sorted((w.line_id, w.text) for w in words)
    assert sum(len(line.tokens) for line in response.original.line_predictions) == len(ids)
    metrics = response.metrics
    assert 0.0 <= metrics.overall_accuracy <= 1.0
    judged = [p for p in response.original.predictions if p.is_correct is not None]
    assert metrics.evaluated_words == len(judged)
    assert metrics.correct_words == sum(p.is_correct is True for p in judged)
    for table in (metrics.per_label_f1, metrics.per_label_precision, metrics.per_label_recall):
        assert all(0.0 <= v <= 1.0 for v in table.values())
        assert OUTSIDE not in table
    assert InferenceResponse.from_json(response.to_json()) == response
