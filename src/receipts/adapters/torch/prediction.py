"""Sliding-window inference: one label and confidence per word, whatever the receipt's length."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast

from receipts.adapters.torch.batching import collate
from receipts.adapters.torch.encoding import Encoded, WordChoice, encode_receipt, merge_windows
from receipts.adapters.torch.models import model_tags
from receipts.application.datasets import LabelledReceipt


@dataclass(frozen=True)
class WordPrediction:
    tag: str
    confidence: float


@dataclass(frozen=True)
class PredictionRun:
    words: list[list[WordPrediction]]
    loss: float | None
    """Mean loss over supervised tokens, when tags were given."""


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
    prediction of the window where it sits farthest from an edge). With `tag_ids` the
    receipts' tags also give the loss."""
    device = device or next(model.parameters()).device
    tags = model_tags(model)
    windows: list[Encoded] = []
    for index, receipt in enumerate(receipts):
        windows += encode_receipt(index, receipt, tokenizer, tag_ids, max_length, stride)
    loss_sum, loss_tokens = 0.0, 0
    window_choices: list[list[WordChoice]] = [[] for _ in windows]
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    was_training = model.training
    model.train(False)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = collate([windows[i] for i in chunk], tokenizer.pad_token_id)
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
            confidence, best = probabilities.max(-1)
            for row, i in enumerate(chunk):
                positions = windows[i].word_positions
                window_choices[i] = list(
                    zip(
                        best[row, positions].tolist(),
                        confidence[row, positions].tolist(),
                        strict=True,
                    )
                )
    model.train(was_training)
    merged = merge_windows(windows, window_choices, [len(r.texts) for r in receipts])
    results = [
        [WordPrediction(tags[label_id], float(conf)) for label_id, conf in words]
        for words in merged
    ]
    return PredictionRun(results, loss_sum / loss_tokens if loss_tokens else None)
