"""Sliding-window inference: one label and confidence per word, whatever the receipt's length.

Each word's label is decoded from its tag probabilities (`domain.decoding`): the label with
the highest probability, B and I summed, and the BIO tag that label implies on its line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast

from receipts.adapters.torch.batching import collate
from receipts.adapters.torch.encoding import Encoded, run_windows
from receipts.adapters.torch.models import model_line_labels, model_tags
from receipts.application.ports.training_data import LabelledReceipt
from receipts.domain.decoding import bio_by_lines, decode_receipt
from receipts.domain.fields import LabelledWord, words_with_labels


@dataclass(frozen=True)
class WordPrediction:
    tag: str
    """The BIO tag of `label` on its line (see `domain.decoding`)."""
    label: str
    confidence: float
    """The probability of `label`."""
    scores: dict[str, float]
    """The probability of every label the model knows, "O" included."""


@dataclass(frozen=True)
class PredictionRun:
    words: list[list[WordPrediction]]
    loss: float | None
    """Mean loss over supervised tokens, when tags were given."""
    supervised_tokens: int = 0


def predict(
    model: LayoutLMForTokenClassification,
    tokenizer: PreTrainedTokenizerFast,
    receipts: Sequence[LabelledReceipt],
    *,
    max_length: int,
    stride: int,
    batch_size: int = 16,
    device: torch.device | None = None,
    tag_ids: dict[str, int] | None = None,
) -> PredictionRun:
    """Predictions for every word of every receipt (windows merged: each word keeps the
    probabilities of the window where it sits farthest from an edge, then is decoded). With
    `tag_ids` the receipts' tags also give the loss."""
    device = device or next(model.parameters()).device
    loss_sum, loss_tokens = 0.0, 0

    def run(windows: list[Encoded]) -> list[list[list[float]]]:
        nonlocal loss_sum, loss_tokens
        batch = collate(windows, tokenizer.pad_token_id)
        logits = model(
            input_ids=batch["input_ids"].to(device),
            bbox=batch["bbox"].to(device),
            attention_mask=batch["attention_mask"].to(device),
        ).logits.float()
        if tag_ids is not None:
            labels = batch["labels"].to(device)
            supervised = int((labels != -100).sum())
            if supervised:
                loss = torch.nn.functional.cross_entropy(
                    logits.view(-1, logits.shape[-1]),
                    labels.view(-1),
                    ignore_index=-100,
                    reduction="sum",
                )
                loss_sum += float(loss)
                loss_tokens += supervised
        probabilities = logits.softmax(-1)
        return [probabilities[row, w.word_positions].tolist() for row, w in enumerate(windows)]

    was_training = model.training
    model.train(False)
    with torch.inference_mode():
        merged = run_windows(receipts, tokenizer, tag_ids, max_length, stride, batch_size, run)
    model.train(was_training)
    tags, line_labels = model_tags(model), model_line_labels(model)
    results = []
    for rows, receipt in zip(merged, receipts, strict=True):
        words = decode_receipt(tags, rows, receipt.lines, line_labels)
        bio = bio_by_lines([w.label for w in words], receipt.lines)
        pairs = zip(bio, words, strict=True)
        results.append([WordPrediction(tag, w.label, w.confidence, w.scores) for tag, w in pairs])
    return PredictionRun(results, loss_sum / loss_tokens if loss_tokens else None, loss_tokens)


def predicted_words(
    receipt: LabelledReceipt, predictions: Sequence[WordPrediction]
) -> list[LabelledWord]:
    """A receipt's words with the model's labels, confidences and scores (for fields)."""
    return words_with_labels(
        receipt.texts,
        [w.label for w in predictions],
        receipt.lines,
        [w.confidence for w in predictions],
        [w.scores for w in predictions],
    )
