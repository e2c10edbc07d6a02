"""Sliding windows over a receipt's words, and merging window predictions back onto words.

A receipt longer than the model's maximum length is split into windows of whole words
(at most `budget` tokens each). Consecutive windows overlap by about `stride` tokens so
every word is also seen with context on both sides. Each word takes its prediction from
the window in which it sits farthest from an edge, so every word gets exactly one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: int
    """First word (inclusive)."""
    end: int
    """Last word (exclusive)."""


def plan_windows(token_counts: Sequence[int], budget: int, stride: int) -> list[Window]:
    """Windows of whole words with at most `budget` tokens (a word alone may be cut later).

    `token_counts[i]` is the number of tokens of word i (at least 1 is assumed for empty
    words). Consecutive windows share words worth up to `stride` tokens.
    """
    if budget < 1:
        raise ValueError(f"window budget must be at least 1 token, got {budget}")
    if stride < 0:
        raise ValueError(f"stride must be >= 0, got {stride}")
    counts = [max(1, c) for c in token_counts]
    n = len(counts)
    if n == 0:
        return []
    windows: list[Window] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and (used + counts[end] <= budget or end == start):
            used += min(counts[end], budget)
            end += 1
        windows.append(Window(start, end))
        if end >= n:
            return windows
        overlap_start, overlap = end, 0
        while overlap_start - 1 > start and overlap + counts[overlap_start - 1] <= stride:
            overlap_start -= 1
            overlap += counts[overlap_start]
        start = overlap_start


def owner_windows(windows: Sequence[Window], words: int) -> list[int]:
    """For each word, the index of the window whose prediction it keeps."""
    owner = [-1] * words
    margin = [-1] * words
    for index, window in enumerate(windows):
        for word in range(window.start, window.end):
            distance = min(word - window.start, window.end - 1 - word)
            if distance > margin[word]:
                owner[word], margin[word] = index, distance
    if -1 in owner:
        raise ValueError(f"word {owner.index(-1)} is in no window")
    return owner
