"""Scoring a checkpoint on a labelled data set: entity-level and field-level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from receipts.adapters.torch.checkpoints import read_state
from receipts.adapters.torch.metrics import entity_scores
from receipts.adapters.torch.models import NotAModel, load_model, resolve_pretrained
from receipts.adapters.torch.prediction import predict, predicted_words
from receipts.adapters.torch.tokenization import load_tokenizer
from receipts.application.training.datasets import label_receipt
from receipts.bootstrap.training import label_store_for
from receipts.domain.config import DataConfig, JobConfig
from receipts.domain.errors import InvalidInput
from receipts.domain.fields import extract_fields, score_fields


def evaluate_checkpoint(checkpoint: Path, dataset: Path) -> dict[str, Any]:
    try:
        source = resolve_pretrained(str(checkpoint))
    except NotAModel as error:
        raise InvalidInput("checkpoint", [str(error)]) from None
    if source.kind != "layoutlm":
        raise InvalidInput(
            "checkpoint", [f"{checkpoint} holds BERT weights, not a trained LayoutLM"]
        )
    try:
        state = read_state(checkpoint)
        config = JobConfig.model_validate(state["config"])
    except (FileNotFoundError, KeyError):
        config = JobConfig()
    model = load_model(source)
    tokenizer = load_tokenizer(checkpoint)
    store = label_store_for(DataConfig(dataset=str(dataset)))
    receipts = [label_receipt(r, config.data) for r in store.receipts()]
    run = predict(
        model,
        tokenizer,
        receipts,
        max_length=config.model.max_seq_length,
        stride=config.model.stride,
    )
    guessed = [[w.tag for w in words] for words in run.words]
    precision, recall, f1, per_label = entity_scores([list(r.tags) for r in receipts], guessed)
    with_fields = [(r, g) for r, g in zip(receipts, run.words, strict=True) if r.fields]
    fields = (
        score_fields(
            [extract_fields(predicted_words(r, g)) for r, g in with_fields],
            [r.fields for r, _ in with_fields],
        )
        if with_fields
        else None
    )
    return {
        "checkpoint": str(checkpoint),
        "dataset": str(dataset),
        "receipts": len(receipts),
        "words": sum(len(r.texts) for r in receipts),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "per_label": {k: v.model_dump() for k, v in per_label.items()},
        "field_f1": fields.f1 if fields else None,
        "per_field": fields.per_field if fields else {},
    }
