"""Length-bucketed batches with dynamic padding (and the pad-to-max baseline)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from receipts.adapters.torch.encoding import IGNORE, Encoded

Batch = dict[str, torch.Tensor]


def plan_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, bucket_factor: int = 50
) -> list[list[int]]:
    """Shuffle by (seed, epoch), sort within large chunks by length, cut into batches,
    shuffle the batches: little padding, still random, and the same plan on resume."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * bucket_factor
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Encoded], pad_id: int, pad_to: int | None = None) -> Batch:
    width = pad_to or max(len(e) for e in examples)
    size = len(examples)
    input_ids = torch.full((size, width), pad_id, dtype=torch.long)
    bbox = torch.zeros((size, width, 4), dtype=torch.long)
    attention = torch.zeros((size, width), dtype=torch.long)
    labels = torch.full((size, width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        n = min(len(example), width)
        input_ids[row, :n] = torch.tensor(example.input_ids[:n])
        bbox[row, :n] = torch.tensor(example.bbox[:n])
        attention[row, :n] = 1
        labels[row, :n] = torch.tensor(example.labels[:n])
    return {"input_ids": input_ids, "bbox": bbox, "attention_mask": attention, "labels": labels}
