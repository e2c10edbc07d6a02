"""Training throughput: our loader (length buckets, dynamic padding) vs the seeds' (pad to 512).

    .venv/bin/python bench/train_throughput.py [--model-size small] [--steps 30] [--batch-size 8]

Both approaches train the same model (two copies of one initialisation, one AdamW each) on
the same windows of the same real receipts (SROIE train, `sroie` labels, prepared with
prepare_dataset, windows from encode_receipt at max_length 512, stride 128). Ours: batches
from plan_batches + collate (padded to the longest window of the batch). Baseline: a plain
shuffled order + collate(pad_to=512). Steps alternate ours/baseline (ABBA order) after
3 warm-up steps each, so both see the same CPU contention. Tokens/s = real (non-pad)
tokens per second of forward + backward + gradient clipping + optimizer step.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast

from machine import cpu_pressure
from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.torch.batching import Batch, collate, plan_batches
from receipts.adapters.torch.encoding import Encoded, encode_receipt
from receipts.adapters.torch.models import build_model, load_model, resolve_pretrained
from receipts.adapters.torch.tokenization import load_tokenizer, train_tokenizer
from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.datasets import prepare_dataset
from receipts.domain.config import DataConfig

RATIO_TARGET = 3.0
WARMUP_STEPS = 3
MAX_LENGTH = 512
STRIDE = 128
SEED = 42
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sroie" / "train.jsonl"
# the labels SROIE carries, merged the `sroie` way (ADDRESS_LINE -> ADDRESS)
SROIE_DATA = DataConfig(
    presets=("sroie",), allowed_labels=("MERCHANT_NAME", "ADDRESS", "DATE", "AMOUNT")
)


def sroie_dataset(path: Path, limit: int | None) -> PreparedDataset:
    receipts = list(JSONLLabelStore(path).receipts())[:limit]
    return prepare_dataset(receipts, SROIE_DATA, seed=SEED, o_entity_ratio=None, source=str(path))


def model_and_tokenizer(
    size: str, pretrained: str | None, dataset: PreparedDataset
) -> tuple[LayoutLMForTokenClassification, PreTrainedTokenizerFast]:
    """What LayoutLMTrainer builds for a new job (same sizes, same tokenizer rule)."""
    tags = list(dataset.tags)
    if pretrained:
        source = resolve_pretrained(pretrained)
        return load_model(source, tags), load_tokenizer(source.directory)
    texts = [text for receipt in dataset.train for text in receipt.texts]
    tokenizer = train_tokenizer(texts, vocab_size=8000 if size == "base" else 4000)
    return build_model(size, tags, tokenizer.vocab_size, MAX_LENGTH), tokenizer


def bucketed_order(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """The trainer's plan, epoch after epoch."""
    epoch = 1
    while True:
        yield from plan_batches(lengths, batch_size, SEED, epoch)
        epoch += 1


def shuffled_order(count: int, batch_size: int) -> Iterator[list[int]]:
    """The seeds' loader: a plain shuffle per epoch, cut into batches."""
    rng = random.Random(SEED)
    while True:
        order = list(range(count))
        rng.shuffle(order)
        yield from (order[i : i + batch_size] for i in range(0, count, batch_size))


def padding_share(
    examples: Sequence[Encoded], batches: Sequence[list[int]], pad_to: int | None
) -> float:
    real = sum(len(examples[i]) for batch in batches for i in batch)
    padded = sum(len(batch) * (pad_to or max(len(examples[i]) for i in batch)) for batch in batches)
    return 1 - real / padded


@dataclass
class Approach:
    name: str
    model: LayoutLMForTokenClassification
    optimizer: torch.optim.Optimizer
    batches: Iterator[list[int]]
    pad_to: int | None
    bf16: bool = False
    seconds: float = 0.0
    collate_seconds: float = 0.0
    real_tokens: int = 0
    padded_tokens: int = 0
    steps: int = 0
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.real_tokens / self.seconds if self.seconds else 0.0

    @property
    def measured_padding(self) -> float:
        return 1 - self.real_tokens / self.padded_tokens if self.padded_tokens else 0.0


def train_step(
    approach: Approach,
    examples: Sequence[Encoded],
    pad_id: int,
    loss_fn: torch.nn.Module,
    tags: int,
    *,
    timed: bool,
) -> None:
    indices = next(approach.batches)
    started = time.perf_counter()
    batch: Batch = collate([examples[i] for i in indices], pad_id, pad_to=approach.pad_to)
    collated = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=approach.bf16):
        logits = approach.model(
            input_ids=batch["input_ids"],
            bbox=batch["bbox"],
            attention_mask=batch["attention_mask"],
        ).logits
    loss = loss_fn(logits.float().view(-1, tags), batch["labels"].view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(approach.model.parameters(), 1.0)
    approach.optimizer.step()
    approach.optimizer.zero_grad(set_to_none=True)
    loss_value = float(loss.detach())
    ended = time.perf_counter()
    if not timed:
        return
    approach.seconds += ended - collated
    approach.collate_seconds += collated - started
    approach.real_tokens += int(batch["attention_mask"].sum())
    approach.padded_tokens += batch["attention_mask"].numel()
    approach.steps += 1
    approach.losses.append(loss_value)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-size", choices=("tiny", "small", "base"), default="small")
    parser.add_argument(
        "--pretrained", default=None, help="'minilm' or a model directory (overrides the size)"
    )
    parser.add_argument("--steps", type=int, default=30, help="timed steps per approach")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SROIE train JSONL")
    parser.add_argument("--limit", type=int, default=None, help="use the first N receipts only")
    parser.add_argument(
        "--mixed-precision",
        choices=("no", "bf16"),
        default="no",
        help="ours only: bf16 autocast on the CPU (the trainer's --mixed-precision bf16); the"
        " seeds' rows stay fp32, as the seed system ran on a CPU",
    )
    args = parser.parse_args(argv)

    print(
        f"python {sys.version.split()[0]}  torch {torch.__version__}"
        f"  threads {torch.get_num_threads()}  cpu pressure (some avg10): {cpu_pressure()}"
    )
    print("(pressure above a few % means another process competes for the CPU: numbers swing)")
    torch.manual_seed(SEED)
    dataset = sroie_dataset(args.data, args.limit)
    tags = list(dataset.tags)
    tag_ids = {tag: i for i, tag in enumerate(tags)}
    model, tokenizer = model_and_tokenizer(args.model_size, args.pretrained, dataset)
    examples: list[Encoded] = []
    receipts = [*dataset.train, *dataset.validation]  # the whole file
    for index, receipt in enumerate(receipts):
        examples += encode_receipt(index, receipt, tokenizer, tag_ids, MAX_LENGTH, STRIDE)
    lengths = [len(e) for e in examples]
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"data: {len(receipts)} SROIE train receipts -> {len(examples)} windows,"
        f" {sum(lengths):,} tokens (mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)});"
        f" model {args.pretrained or args.model_size} {parameters / 1e6:.1f}M parameters,"
        f" batch {args.batch_size}, {args.steps} timed steps each after {WARMUP_STEPS} warm-up"
    )

    epoch_plan = plan_batches(lengths, args.batch_size, SEED, 1)
    shuffled = shuffled_order(len(examples), args.batch_size)
    epoch_shuffled = [next(shuffled) for _ in range(len(epoch_plan))]

    def approach(name: str, net: LayoutLMForTokenClassification, pad_to: int | None) -> Approach:
        batches = (
            bucketed_order(lengths, args.batch_size)
            if pad_to is None
            else shuffled_order(len(examples), args.batch_size)
        )
        optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
        return Approach(name, net, optimizer, batches, pad_to)

    bf16 = args.mixed_precision == "bf16"
    ours = approach(
        "ours: buckets + dynamic padding, SDPA" + (", bf16 autocast" if bf16 else ""),
        model,
        None,
    )
    ours.bf16 = bf16
    seeds = approach("seeds: shuffled, padded to 512, SDPA", copy.deepcopy(model), MAX_LENGTH)
    # The seed system ran transformers 4.40, whose LayoutLM had only eager attention.
    as_run = approach(
        "seeds as they ran: padded to 512, eager attention", copy.deepcopy(model), MAX_LENGTH
    )
    as_run.model.set_attn_implementation("eager")
    ours.model.train()
    seeds.model.train()
    as_run.model.train()
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    step = partial(
        train_step,
        examples=examples,
        pad_id=tokenizer.pad_token_id,
        loss_fn=loss_fn,
        tags=len(tags),
    )
    for _ in range(WARMUP_STEPS):
        step(ours, timed=False)
        step(seeds, timed=False)
        step(as_run, timed=False)
    for index in range(args.steps):
        trio = (ours, seeds, as_run) if index % 2 == 0 else (as_run, seeds, ours)  # ABCCBA
        for current in trio:
            step(current, timed=True)

    ratio = ours.tokens_per_second / seeds.tokens_per_second if seeds.tokens_per_second else 0.0
    ratio_as_run = (
        ours.tokens_per_second / as_run.tokens_per_second if as_run.tokens_per_second else 0.0
    )
    rows = [
        (
            f"tokens/s, {ours.name}",
            f"{ours.tokens_per_second:,.0f}",
            "-",
            "",
            f"{ours.real_tokens:,} tokens in {ours.seconds:.1f} s",
        ),
        (
            f"tokens/s, {seeds.name}",
            f"{seeds.tokens_per_second:,.0f}",
            "-",
            "",
            f"{seeds.real_tokens:,} tokens in {seeds.seconds:.1f} s",
        ),
        (
            f"tokens/s, {as_run.name}",
            f"{as_run.tokens_per_second:,.0f}",
            "-",
            "",
            f"{as_run.real_tokens:,} tokens in {as_run.seconds:.1f} s",
        ),
        (
            "ratio ours / seeds as they ran",
            f"{ratio_as_run:.2f}x",
            f">= {RATIO_TARGET:.0f}x",
            verdict(ratio_as_run >= RATIO_TARGET),
            "the target's comparison",
        ),
        (
            "ratio ours / padded-to-512 with SDPA",
            f"{ratio:.2f}x",
            f">= {RATIO_TARGET:.0f}x",
            verdict(ratio >= RATIO_TARGET),
            "the loader's share alone",
        ),
        (
            "padding share, ours (timed batches / one epoch)",
            f"{ours.measured_padding:.1%}",
            "-",
            "",
            f"epoch: {padding_share(examples, epoch_plan, None):.1%}",
        ),
        (
            "padding share, seeds (timed batches / one epoch)",
            f"{seeds.measured_padding:.1%}",
            "-",
            "",
            f"epoch: {padding_share(examples, epoch_shuffled, MAX_LENGTH):.1%}",
        ),
        (
            "collate ms/step, ours / seeds (not in tokens/s)",
            f"{1000 * ours.collate_seconds / max(1, ours.steps):.1f}"
            f" / {1000 * seeds.collate_seconds / max(1, seeds.steps):.1f}",
            "-",
            "",
            "",
        ),
        (
            "mean loss, ours / seeds (sanity)",
            f"{sum(ours.losses) / max(1, len(ours.losses)):.3f}"
            f" / {sum(seeds.losses) / max(1, len(seeds.losses)):.3f}",
            "-",
            "",
            "",
        ),
    ]
    header = ("measure", "value", "target", "", "detail")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"cpu pressure after (some avg10): {cpu_pressure()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
