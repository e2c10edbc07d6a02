"""The CoreML exporter: checkpoint directory → LayoutLM.mlpackage bundle with a manifest.

Before converting, it checks that the model survives float16 compute and measures, in
torch, what the export's precision or weight quantization does to entity F1 on a
validation set; these figures go into the bundle's manifest and onto the ExportJob.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast

from receipts.adapters.coreml.comparison import compare_with_torch
from receipts.adapters.coreml.conversion import (
    MODEL_FILE,
    ConversionPlan,
    convert,
    describe_package,
    save,
)
from receipts.adapters.export_bundle.checkpoint import ExportableCheckpoint, inspect_checkpoint
from receipts.adapters.export_bundle.writer import finish_bundle, known_quantization, staging_area
from receipts.adapters.torch.export_model import ExportableTokenClassifier, load_for_export
from receipts.adapters.torch.export_validation import (
    ValidationData,
    entity_f1,
    float16_f1,
    load_validation_data,
    probe_inputs,
    quantization_effect,
)
from receipts.adapters.torch.float16_safety import Probe, check_float16
from receipts.adapters.torch.tokenization import load_tokenizer
from receipts.application.ports.exporter import BundleReport, ExportFailed
from receipts.domain.quantization import Quantization

MAX_SEQUENCE = 512


class CoreMLExporter:
    name = "coreml"

    def __init__(
        self,
        validation_dataset: Path | None = None,
        synthetic_receipts: int = 32,
        validate_f1: bool = True,
    ) -> None:
        """`validation_dataset`: labelled receipts (JSONL) to score on; without it,
        `synthetic_receipts` seeded synthetic ones. `validate_f1=False` skips the F1
        figures (the float16 check always runs)."""
        if synthetic_receipts < 1:
            raise ValueError(f"synthetic_receipts {synthetic_receipts}: must be at least 1")
        self.validation_dataset = validation_dataset
        self.synthetic_receipts = synthetic_receipts
        self.validate_f1 = validate_f1

    def export(
        self,
        checkpoint_dir: Path,
        bundle_dir: Path,
        quantization: Quantization,
        *,
        source_uri: str | None = None,
    ) -> BundleReport:
        """`source_uri`: where the checkpoint was downloaded from, for the manifest."""
        quantization = known_quantization(quantization)
        checkpoint = inspect_checkpoint(checkpoint_dir)
        with staging_area(bundle_dir) as staging:
            started = time.perf_counter()
            model, tokenizer = _load(checkpoint)
            wrapper = ExportableTokenClassifier(model)
            data = load_validation_data(
                checkpoint, self.validation_dataset, self.synthetic_receipts
            )
            probes = probe_inputs(data, tokenizer, model.config.vocab_size)
            validation: dict[str, Any] = {
                **data.figures(),
                **check_float16(wrapper, probes).figures(),
            }
            if self.validate_f1:
                validation |= self._accuracy(model, tokenizer, data, probes, quantization)
            validated = time.perf_counter()
            plan = ConversionPlan(
                quantization, min(MAX_SEQUENCE, checkpoint.max_positions), checkpoint.labels
            )
            package = staging / MODEL_FILE
            save(convert(wrapper, model.config.vocab_size, plan), package)
            converted = time.perf_counter()
            validation |= compare_with_torch(package, wrapper, probes)
            return finish_bundle(
                staging,
                bundle_dir,
                checkpoint=checkpoint,
                exporter=self.name,
                model_file=MODEL_FILE,
                quantization=quantization.value,
                validation=validation,
                source={"checkpoint_uri": source_uri} if source_uri else None,
                model={
                    **describe_package(package),
                    "max_sequence_length": plan.max_length,
                    "minimum_deployment_target": str(plan.deployment_target.name),
                    "compute_precision": "float16",
                    "weight_quantization": validation.get("weight_quantization", "none"),
                    "validation_seconds": round(validated - started, 2),
                    "conversion_seconds": round(converted - validated, 2),
                },
            )

    @staticmethod
    def _accuracy(
        model: LayoutLMForTokenClassification,
        tokenizer: PreTrainedTokenizerFast,
        data: ValidationData,
        probes: list[Probe],
        quantization: Quantization,
    ) -> dict[str, Any]:
        float32 = entity_f1(model, tokenizer, data)
        scheme = ConversionPlan(quantization, MAX_SEQUENCE, []).weight_scheme
        if scheme is None:
            half = float16_f1(model, tokenizer, data)
            return {"f1_float32": float32[0], "f1_float16": half, "f1_delta": half - float32[0]}
        return quantization_effect(model, tokenizer, data, probes, scheme, float32)


def _load(
    checkpoint: ExportableCheckpoint,
) -> tuple[LayoutLMForTokenClassification, PreTrainedTokenizerFast]:
    try:
        model = load_for_export(checkpoint.directory)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ExportFailed(f"{checkpoint.directory}: the weights do not load: {error}") from None
    try:
        tokenizer = load_tokenizer(checkpoint.directory)
    except (OSError, ValueError) as error:
        raise ExportFailed(
            f"{checkpoint.directory}: the vocabulary does not load: {error}"
        ) from None
    if len(tokenizer) > model.config.vocab_size:
        raise ExportFailed(
            f"{checkpoint.directory}: vocab.txt holds {len(tokenizer)} tokens but the model"
            f" embeds only {model.config.vocab_size}"
        )
    return model, tokenizer
