"""Preparing receipts for training: label policy, BIO tags, split, O:entity balance, lineage."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence

from receipts.application.ports.training_data import (
    DatasetStats,
    LabelledReceipt,
    PreparedDataset,
)
from receipts.domain.config import DataConfig
from receipts.domain.decoding import bio_by_lines
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import OUTSIDE
from receipts.domain.receipt import Receipt, count_labels


def label_receipt(
    receipt: Receipt, config: DataConfig, stats: DatasetStats | None = None
) -> LabelledReceipt:
    labels = [config.map_label(word.training_label) for word in receipt.words]
    lines = [word.line_id for word in receipt.words]
    boxes = []
    for word in receipt.words:
        box, clamped = word.box.normalized(receipt.width, receipt.height)
        boxes.append(box)
        if stats is not None and clamped:
            stats.clamped_boxes += 1
    return LabelledReceipt(
        receipt_id=receipt.receipt_id,
        texts=tuple(word.text for word in receipt.words),
        boxes=tuple(boxes),
        tags=tuple(bio_by_lines(labels, lines)),
        lines=tuple(lines),
        fields=receipt.fields,
    )


def inference_input(receipt: Receipt) -> LabelledReceipt:
    """The receipt as a model reads it to predict: texts, 0..1000 boxes, lines (every tag O)."""
    return LabelledReceipt(
        receipt_id=receipt.receipt_id,
        texts=tuple(w.text for w in receipt.words),
        boxes=tuple(w.box.normalized(receipt.width, receipt.height)[0] for w in receipt.words),
        tags=(OUTSIDE,) * len(receipt.words),
        lines=tuple(w.line_id for w in receipt.words),
    )


def content_hash(receipts: Iterable[LabelledReceipt], tags: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(list(tags)).encode())
    for receipt in sorted(receipts, key=lambda r: r.receipt_id):
        digest.update(receipt.model_dump_json().encode())
    return digest.hexdigest()


def split(
    receipts: Sequence[LabelledReceipt], validation_share: float, seed: int
) -> tuple[list[LabelledReceipt], list[LabelledReceipt]]:
    """A seeded split by receipt id, stable when receipts are added or reordered."""

    def rank(receipt: LabelledReceipt) -> str:
        return hashlib.sha256(f"{seed}:{receipt.receipt_id}".encode()).hexdigest()

    ordered = sorted(receipts, key=rank)
    size = max(1, round(len(ordered) * validation_share)) if len(ordered) > 1 else 0
    return ordered[size:], ordered[:size]


def balance_outside(
    receipts: Sequence[LabelledReceipt], ratio: float, seed: int
) -> tuple[list[LabelledReceipt], int]:
    """Drops whole lines that hold only O, at random by seed, until O:entity <= ratio."""
    outside = sum(tag == OUTSIDE for r in receipts for tag in r.tags)
    entity = sum(tag != OUTSIDE for r in receipts for tag in r.tags)
    excess = outside - int(ratio * entity)
    if excess <= 0 or entity == 0:
        return list(receipts), 0
    candidates = [
        (index, line)
        for index, receipt in enumerate(receipts)
        for line in sorted(set(receipt.lines))
        if all(
            tag == OUTSIDE
            for tag, word_line in zip(receipt.tags, receipt.lines, strict=True)
            if word_line == line
        )
    ]
    random.Random(seed).shuffle(candidates)
    drop: set[tuple[int, int]] = set()
    for index, line in candidates:
        if excess <= 0:
            break
        drop.add((index, line))
        excess -= sum(1 for word_line in receipts[index].lines if word_line == line)
    balanced = []
    for index, receipt in enumerate(receipts):
        keep = [i for i, line in enumerate(receipt.lines) if (index, line) not in drop]
        if not keep:
            continue
        balanced.append(
            receipt.model_copy(
                update={
                    "texts": tuple(receipt.texts[i] for i in keep),
                    "boxes": tuple(receipt.boxes[i] for i in keep),
                    "tags": tuple(receipt.tags[i] for i in keep),
                    "lines": tuple(receipt.lines[i] for i in keep),
                }
            )
        )
    return balanced, len(drop)


def _stats(receipts: Sequence[LabelledReceipt]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for receipt in receipts:
        for tag in receipt.tags:
            counts[tag.split("-", 1)[1] if tag != OUTSIDE else OUTSIDE] += 1
    return counts


def prepare_dataset(
    receipts: Iterable[Receipt],
    config: DataConfig,
    *,
    seed: int,
    o_entity_ratio: float | None,
    source: str,
) -> PreparedDataset:
    """Applies the label policy and splits; refuses a data set that cannot train."""
    raw = list(receipts)
    stats = DatasetStats(label_counts=count_labels(raw))
    labelled = []
    for receipt in raw:
        if not receipt.words:
            continue
        labelled.append(label_receipt(receipt, config, stats))
    if not labelled:
        raise InvalidInput("data set", [f"{source}: no receipts with words"])
    counts = _stats(labelled)
    stats.receipts = len(labelled)
    stats.words = sum(counts.values())
    stats.lines = sum(len(set(r.lines)) for r in labelled)
    stats.outside_words = counts[OUTSIDE]
    stats.entity_words = stats.words - stats.outside_words
    stats.training_label_counts = {k: v for k, v in sorted(counts.items()) if k != OUTSIDE}
    if stats.entity_words == 0:
        raise InvalidInput(
            "data set",
            [
                f"{source}: no word carries a VALID label the job trains on"
                f" ({', '.join(config.entity_labels()) or 'none'})"
            ],
        )
    train, validation = split(labelled, config.validation_split, seed)
    if not validation:
        raise InvalidInput(
            "data set", [f"{source}: {len(labelled)} receipt(s) cannot be split for validation"]
        )
    dropped = 0
    if o_entity_ratio is not None:
        train, dropped = balance_outside(train, o_entity_ratio, seed)
    train_counts = _stats(train)
    train_stats = DatasetStats(
        receipts=len(train),
        words=sum(train_counts.values()),
        lines=sum(len(set(r.lines)) for r in train),
        outside_words=train_counts[OUTSIDE],
        entity_words=sum(train_counts.values()) - train_counts[OUTSIDE],
        dropped_lines=dropped,
        training_label_counts={k: v for k, v in sorted(train_counts.items()) if k != OUTSIDE},
    )
    tags = tuple(config.bio_tags())
    return PreparedDataset(
        source=source,
        content_hash=content_hash([*train, *validation], tags),
        tags=tags,
        train=tuple(train),
        validation=tuple(validation),
        stats=stats,
        train_stats=train_stats,
    )
