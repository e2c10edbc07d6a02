"""Checkpoints in HF layout (config.json, model.safetensors, vocab.txt) plus, for resuming,
the optimizer, scheduler and RNG state as safetensors + JSON. Nothing is pickled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "trainer_state.json"


def save_checkpoint(
    directory: Path,
    model: LayoutLMForTokenClassification,
    tokenizer: PreTrainedTokenizerFast,
    state: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    """Writes into a temporary sibling, then renames: a checkpoint is whole or absent."""
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    write_vocab(tokenizer, partial / "vocab.txt")
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    extra: dict[str, Any] = {}
    if optimizer is not None:
        opt_state = optimizer.state_dict()
        for index, values in opt_state["state"].items():
            for name, value in values.items():
                tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
                tensors[f"optimizer.{index}.{name}"] = tensor.detach().cpu().contiguous()
        extra["optimizer_param_groups"] = opt_state["param_groups"]
    if scheduler is not None:
        extra["scheduler"] = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    save_file(tensors, str(partial / STATE_TENSORS))
    (partial / STATE_JSON).write_text(json.dumps({**state, **extra}, indent=2))
    if directory.exists():
        shutil.rmtree(directory)
    partial.rename(directory)


def write_vocab(tokenizer: PreTrainedTokenizerFast, path: Path) -> None:
    """vocab.txt, one token a line in id order: what BERT tokenizers on any platform read."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    path.write_text("\n".join(token for token, _ in vocab) + "\n", encoding="utf-8")


def read_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{directory} has no {STATE_JSON}: not a resumable checkpoint")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def restore_training_state(
    directory: Path,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    state = read_state(directory)
    tensors = load_file(str(directory / STATE_TENSORS))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["optimizer_param_groups"]})
    scheduler.load_state_dict(
        {**state["scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)}
    )
    torch.set_rng_state(tensors["rng.torch"])


def copy_checkpoint(source: Path, target: Path) -> None:
    """The weights of `source` (not its training state) as `target`, whole or absent."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial, ignore=shutil.ignore_patterns(STATE_TENSORS))
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)


def saved_checkpoints(run_dir: Path) -> list[Path]:
    """The run's resumable `checkpoint-<step>` directories, oldest step first."""
    steps = {
        int(p.name.removeprefix("checkpoint-")): p
        for p in run_dir.glob("checkpoint-*")
        if p.name.removeprefix("checkpoint-").isdigit() and (p / STATE_JSON).is_file()
    }
    return [steps[step] for step in sorted(steps)]


def directory_uri(path: Path) -> str:
    """A local directory as an artifact prefix: `file:///.../`."""
    return path.resolve().as_uri() + "/"
