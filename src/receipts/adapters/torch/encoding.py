"""Receipts → model inputs: word-level tokens, 0..1000 boxes, first-subtoken labels, windows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from transformers import PreTrainedTokenizerFast

from receipts.application.ports.training_data import LabelledReceipt
from receipts.domain.windows import Window, owner_windows, plan_windows

IGNORE = -100
CLS_BOX = (0, 0, 0, 0)
SEP_BOX = (1000, 1000, 1000, 1000)


@dataclass(frozen=True)
class Encoded:
    """One window of one receipt, ready to batch."""

    receipt_index: int
    window: Window
    input_ids: list[int]
    bbox: list[tuple[int, int, int, int]]
    labels: list[int]
    word_positions: list[int]
    """Token position of each word's first subtoken in this window (words start..end)."""

    def __len__(self) -> int:
        return len(self.input_ids)


def word_tokens(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each word; a word the tokenizer drops entirely becomes [UNK]."""
    if not texts:
        return []
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    unk = tokenizer.unk_token_id
    return [ids if ids else [unk] for ids in encoded]


def encode_receipt(
    receipt_index: int,
    receipt: LabelledReceipt,
    tokenizer: PreTrainedTokenizerFast,
    tag_ids: dict[str, int] | None,
    max_length: int,
    stride: int,
) -> list[Encoded]:
    """One Encoded per window. Labels go on first subtokens only (-100 elsewhere);
    without `tag_ids` (inference) every label is -100."""
    tokens = word_tokens(tokenizer, receipt.texts)
    budget = max_length - 2
    windows = plan_windows([len(t) for t in tokens], budget, stride)
    encoded = []
    for window in windows:
        input_ids = [tokenizer.cls_token_id]
        bbox = [CLS_BOX]
        labels = [IGNORE]
        positions = []
        for word in range(window.start, window.end):
            ids = tokens[word][: budget - (len(input_ids) - 1)] or tokens[word][:1]
            positions.append(len(input_ids))
            input_ids += ids
            bbox += [receipt.boxes[word]] * len(ids)
            first = tag_ids[receipt.tags[word]] if tag_ids is not None else IGNORE
            labels += [first] + [IGNORE] * (len(ids) - 1)
        input_ids.append(tokenizer.sep_token_id)
        bbox.append(SEP_BOX)
        labels.append(IGNORE)
        encoded.append(Encoded(receipt_index, window, input_ids, bbox, labels, positions))
    return encoded


Choice = TypeVar("Choice")
"""What a window says about one of its words (e.g. its tag probabilities)."""


def merge_windows(
    windows: Sequence[Encoded],
    window_choices: Sequence[Sequence[Choice]],
    word_counts: Sequence[int],
) -> list[list[Choice]]:
    """Per receipt, one choice per word: the one of the window where the word sits farthest
    from an edge. `window_choices[i]` holds window i's choices for its words, in order."""
    by_receipt: dict[int, list[int]] = {}
    for i, window in enumerate(windows):
        by_receipt.setdefault(window.receipt_index, []).append(i)
    merged = []
    for index, words in enumerate(word_counts):
        mine = by_receipt.get(index, [])
        owner = owner_windows([windows[i].window for i in mine], words) if words else []
        choices = []
        for word in range(words):
            w = mine[owner[word]]
            choices.append(window_choices[w][word - windows[w].window.start])
        merged.append(choices)
    return merged


def run_windows(
    receipts: Sequence[LabelledReceipt],
    tokenizer: PreTrainedTokenizerFast,
    tag_ids: dict[str, int] | None,
    max_length: int,
    stride: int,
    batch_size: int,
    run: Callable[[list[Encoded]], Sequence[Sequence[Choice]]],
) -> list[list[Choice]]:
    """Per receipt, one choice per word (`merge_windows`): the receipts' windows go to `run`,
    which gives one list of choices per window (for its words), in batches of `batch_size`
    windows of alike lengths, so that little is padded."""
    windows: list[Encoded] = []
    for index, receipt in enumerate(receipts):
        windows += encode_receipt(index, receipt, tokenizer, tag_ids, max_length, stride)
    window_choices: list[Sequence[Choice]] = [[] for _ in windows]
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for i, choices in zip(chunk, run([windows[i] for i in chunk]), strict=True):
            window_choices[i] = choices
    return merge_windows(windows, window_choices, [len(r.texts) for r in receipts])
