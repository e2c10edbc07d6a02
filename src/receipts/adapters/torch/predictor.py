"""The torch predictor: a trained checkpoint (HF layout, safetensors) labelling receipts.

Fast on CPU because nothing is padded to 512: windows are sorted by length and each batch
is padded only to its longest window. `quantize="int8"` swaps every Linear for a dynamically
quantized one (int8 weights, fp32 activations); `quantize="bfloat16"` runs under bf16
autocast (fast on CPUs with bf16 matrix units: AMX, AVX512-BF16; labels as fp32's).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast
from transformers.utils import logging as transformers_logging

from receipts.adapters.torch.checkpoints import read_state
from receipts.adapters.torch.models import NotAModel, model_tags, resolve_pretrained
from receipts.adapters.torch.prediction import predict
from receipts.adapters.torch.tokenization import load_tokenizer
from receipts.application.ports.predictor import ModelUnusable
from receipts.application.training.datasets import inference_input
from receipts.domain.decoding import DecodedWord
from receipts.domain.labels import entity_labels_of
from receipts.domain.predictions import ModelInfo, ReceiptPrediction
from receipts.domain.receipt import Receipt

TorchQuantization = Literal["float32", "bfloat16", "int8"]


def checkpoint_directory(path: Path) -> Path:
    """The checkpoint in `path`: the directory itself, or the `best/` of a run directory."""
    if not path.exists():
        raise ModelUnusable(path, "no such directory")
    if not path.is_dir():
        raise ModelUnusable(path, "not a directory")
    if not (path / "config.json").is_file() and (path / "best" / "config.json").is_file():
        return path / "best"
    return path


class TorchPredictor:
    def __init__(
        self,
        model_dir: Path,
        *,
        quantize: TorchQuantization = "float32",
        threads: int | None = None,
        batch_size: int = 16,
        model_name: str | None = None,
        job_id: str = "",
        source_uri: str | None = None,
    ) -> None:
        directory = checkpoint_directory(model_dir)
        try:
            source = resolve_pretrained(str(directory))
        except NotAModel as error:
            raise ModelUnusable(directory, str(error)) from None
        if source.kind != "layoutlm":
            raise ModelUnusable(directory, "it holds BERT weights, not a trained LayoutLM")
        try:
            self.tokenizer: PreTrainedTokenizerFast = load_tokenizer(directory)
        except (FileNotFoundError, ValueError) as error:
            raise ModelUnusable(directory, str(error)) from None
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model = LayoutLMForTokenClassification.from_pretrained(directory)
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:
            raise ModelUnusable(directory, f"its weights do not load: {error}") from None
        model.train(False)
        if threads is not None:
            torch.set_num_threads(threads)
        if quantize == "int8":
            model = _dynamic_int8(model)
        self.model = model
        self.batch_size = batch_size
        state = _state(directory)
        self.max_length, self.stride = _window_settings(state, model)
        tags = model_tags(model)
        self._info = ModelInfo(
            model_name=model_name or _model_name(directory),
            job_id=job_id or str(state.get("job_name") or ""),
            source_uri=source_uri or directory.resolve().as_uri(),
            runtime="torch",
            device="cpu",  # from_pretrained loads on the CPU, where it stays
            quantization=quantize,
            labels=entity_labels_of(tags),
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def predict(self, receipts: Sequence[Receipt]) -> list[ReceiptPrediction]:
        bfloat16 = self._info.quantization == "bfloat16"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            run = predict(
                self.model,
                self.tokenizer,
                [inference_input(r) for r in receipts],
                max_length=self.max_length,
                stride=self.stride,
                batch_size=self.batch_size,
            )
        return [
            ReceiptPrediction.from_decoded(
                receipt, [DecodedWord(w.label, w.confidence, w.scores) for w in words]
            )
            for receipt, words in zip(receipts, run.words, strict=True)
        ]


def _dynamic_int8(model: LayoutLMForTokenClassification) -> LayoutLMForTokenClassification:
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized: LayoutLMForTokenClassification = quantize_dynamic(
            model,
            {torch.nn.Linear},
            dtype=torch.qint8,  # type: ignore[no-untyped-call]
        )
    return quantized


def _window_settings(
    state: dict[str, Any], model: LayoutLMForTokenClassification
) -> tuple[int, int]:
    """max_seq_length and stride of the job that trained it (trainer_state.json), else the
    model's own limit and the default stride."""
    limit = int(model.config.max_position_embeddings)
    try:
        model_config = state["config"]["model"]
        return min(limit, int(model_config["max_seq_length"])), int(model_config["stride"])
    except (KeyError, ValueError, TypeError):
        return limit, min(128, limit // 4)


def _state(directory: Path) -> dict[str, Any]:
    try:
        return read_state(directory)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _model_name(directory: Path) -> str:
    directory = directory.resolve()
    name = directory.name
    if name in ("best", "model") or name.startswith("checkpoint-"):
        return f"{directory.parent.name}/{name}"
    return name
