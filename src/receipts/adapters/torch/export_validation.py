"""How much an export changes a model's answers, measured in torch on any OS.

The validation receipts come from a JSONL data set when one is given, else from the
seeded synthetic generator; they are labelled with the checkpoint's own data config (its
label merges), so truth and predictions use the same tags. The effect of a weight
quantization is scored by applying it to a copy of the model: entity F1 against float32,
the share of words whose label changes, and the largest logit difference; then the same
weights with float16 activations, as the device computes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast

from receipts.adapters.export_bundle.checkpoint import ExportableCheckpoint
from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.adapters.torch.batching import collate
from receipts.adapters.torch.encoding import encode_receipt
from receipts.adapters.torch.export_model import (
    INPUT_NAMES,
    ExportableTokenClassifier,
    example_inputs,
)
from receipts.adapters.torch.float16_safety import Probe, logit_difference, outputs
from receipts.adapters.torch.metrics import entity_scores
from receipts.adapters.torch.prediction import predict
from receipts.adapters.torch.weight_quantization import WeightQuantization, quantize_weights
from receipts.application.ports.exporter import ExportFailed
from receipts.application.ports.training_data import LabelledReceipt
from receipts.application.training.datasets import label_receipt
from receipts.domain.config import JobConfig
from receipts.domain.errors import DomainError

SYNTHETIC_SEED = 7_919
"""Not the training seed (0 in the tests, 42 by default): other receipts than it saw."""


@dataclass(frozen=True)
class ValidationData:
    receipts: list[LabelledReceipt]
    source: str
    max_length: int
    stride: int

    def figures(self) -> dict[str, Any]:
        return {
            "validation_set": self.source,
            "validation_receipts": len(self.receipts),
            "validation_words": sum(len(r.texts) for r in self.receipts),
        }


def load_validation_data(
    checkpoint: ExportableCheckpoint, dataset: Path | None, synthetic_receipts: int
) -> ValidationData:
    try:
        config = JobConfig.model_validate(checkpoint.state.get("config", {}))
    except ValidationError:
        config = JobConfig()
    max_length = min(config.model.max_seq_length, checkpoint.max_positions)
    stride = min(config.model.stride, max_length // 4)
    if dataset is not None:
        try:
            raw = list(JSONLLabelStore(dataset).receipts())
        except (DomainError, OSError, ValueError) as error:
            raise ExportFailed(f"validation data set {dataset}: {error}") from None
        source = str(dataset)
    else:
        raw = generate_receipts(synthetic_receipts, seed=SYNTHETIC_SEED)
        source = f"synthetic:{SYNTHETIC_SEED}:{synthetic_receipts}"
    receipts = [label_receipt(receipt, config.data) for receipt in raw]
    return ValidationData(receipts, source, max_length, stride)


def probe_inputs(
    data: ValidationData,
    tokenizer: PreTrainedTokenizerFast,
    vocab_size: int,
    windows: int = 4,
) -> list[Probe]:
    """int32 inputs for the checks: a padded batch of the first validation windows and
    one random input of the longest length the export accepts."""
    encoded = []
    for index, receipt in enumerate(data.receipts):
        encoded += encode_receipt(index, receipt, tokenizer, None, data.max_length, data.stride)
        if len(encoded) >= windows:
            break
    probes: list[Probe] = []
    if encoded:
        batch = collate(encoded[:windows], tokenizer.pad_token_id or 0)
        ids, bbox, mask = (batch[name].to(torch.int32) for name in INPUT_NAMES)
        probes.append((ids, bbox, mask))
    probes.append(example_inputs(data.max_length, vocab_size, seed=1))
    return probes


def entity_f1(
    model: LayoutLMForTokenClassification,
    tokenizer: PreTrainedTokenizerFast,
    data: ValidationData,
) -> tuple[float, list[list[str]]]:
    run = predict(model, tokenizer, data.receipts, max_length=data.max_length, stride=data.stride)
    guessed = [[word.tag for word in words] for words in run.words]
    _, _, f1, _ = entity_scores([list(r.tags) for r in data.receipts], guessed)
    return f1, guessed


def float16_f1(
    model: LayoutLMForTokenClassification,
    tokenizer: PreTrainedTokenizerFast,
    data: ValidationData,
) -> float:
    """Entity F1 of a float16 copy of `model` (float16 weights and activations)."""
    half = copy.deepcopy(model)
    half.half()  # type: ignore[no-untyped-call]
    return entity_f1(half, tokenizer, data)[0]


def quantization_effect(
    model: LayoutLMForTokenClassification,
    tokenizer: PreTrainedTokenizerFast,
    data: ValidationData,
    probes: list[Probe],
    scheme: WeightQuantization,
    float32_f1: tuple[float, list[list[str]]] | None = None,
) -> dict[str, Any]:
    """Entity F1 with `scheme` applied to a copy of `model`, against float32."""
    base_f1, base_tags = float32_f1 or entity_f1(model, tokenizer, data)
    quantized, summary = quantize_weights(model, scheme)
    assert isinstance(quantized, LayoutLMForTokenClassification)
    f1, tags = entity_f1(quantized, tokenizer, data)
    words = sum(len(t) for t in base_tags)
    same = sum(
        a == b
        for mine, theirs in zip(base_tags, tags, strict=True)
        for a, b in zip(mine, theirs, strict=True)
    )
    difference, agreement = logit_difference(
        probes,
        outputs(ExportableTokenClassifier(model), probes),
        outputs(ExportableTokenClassifier(quantized), probes),
    )
    # what the device runs: these weights with float16 activations
    quantized.half()  # type: ignore[no-untyped-call]
    f1_half, _ = entity_f1(quantized, tokenizer, data)
    return {
        "weight_quantization": (
            f"{scheme.bits}-bit linear_symmetric {scheme.granularity}"
            + (f" (block {scheme.block_size})" if scheme.block_size else "")
        ),
        "quantized_weights": len(summary.quantized),
        "unquantized_weights": summary.skipped,
        "max_abs_weight_error": summary.max_abs_error,
        "f1_float32": base_f1,
        "f1_quantized": f1,
        "f1_delta": f1 - base_f1,
        "f1_quantized_float16": f1_half,
        "f1_delta_float16": f1_half - base_f1,
        "word_label_agreement": same / words if words else 1.0,
        "max_abs_logit_diff": difference,
        "argmax_agreement": agreement,
    }
