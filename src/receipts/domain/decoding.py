"""From a model's tag probabilities to word labels and the BIO tags they imply.

A model is trained on BIO tags, but under this project's tagging scheme (`bio_by_lines`) a
word's B or I is not information of its own: an entity starts at a label change or at a new
line, so the tags follow from the labels and the lines. Decoding therefore picks each word's
label by the probability of the label (its B and I summed), then derives B and I from the
lines. A model that puts `I-ADDRESS` on the first word of a new line (or splits its belief
between `B-` and `I-`) then still yields the entity it means, and every decoded sequence is
a valid one.

Some labels cover whole lines wherever a data set has them (SROIE's addresses: 99.7 % of the
lines that hold an address word are address from end to end). A model trained on such data
records them (`line_level_labels`), and decoding then keeps them line-consistent: a line is
that label from end to end when most of its words say so, and not at all otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from receipts.domain.labels import OUTSIDE, label_of


@dataclass(frozen=True, slots=True)
class DecodedWord:
    label: str
    """The entity label without its BIO prefix ("O" outside any entity)."""
    confidence: float
    """The probability of `label` (its B and I summed)."""
    scores: dict[str, float]
    """The probability of every label the model knows, "O" included."""


def label_probabilities(tags: Sequence[str], probabilities: Sequence[float]) -> dict[str, float]:
    """Each label's probability: the sum of its tags' (`B-X` + `I-X`)."""
    if len(tags) != len(probabilities):
        raise ValueError(f"{len(probabilities)} probabilities for {len(tags)} tags")
    scores: dict[str, float] = {}
    for tag, probability in zip(tags, probabilities, strict=True):
        label = label_of(tag)
        scores[label] = scores.get(label, 0.0) + float(probability)
    return scores


def decode_word(tags: Sequence[str], probabilities: Sequence[float]) -> DecodedWord:
    scores = label_probabilities(tags, probabilities)
    # ties go to O, then to the first label in tag order: never an entity by accident
    label = max(scores, key=lambda name: (scores[name], name == OUTSIDE))
    return DecodedWord(label, min(1.0, max(0.0, scores[label])), scores)


LINE_LABELS_CONFIG_KEY = "receipts_line_labels"
"""Where a model's config.json records its line-level labels: the setting travels with every
checkpoint and export bundle."""


def recorded_line_labels(value: object) -> tuple[str, ...]:
    """The line-level labels a model's config recorded under `LINE_LABELS_CONFIG_KEY`
    (none when absent or not a list)."""
    return tuple(str(label) for label in value) if isinstance(value, list | tuple) else ()


LINE_LABEL_SHARE = 0.95
"""A label is line-level when it covers the whole line in at least this share of its lines."""
LINE_LABEL_MIN_LINES = 20
"""... and the data show it on at least this many lines."""


def line_level_labels(
    receipts: Iterable[tuple[Sequence[str], Sequence[int]]],
    *,
    min_share: float = LINE_LABEL_SHARE,
    min_lines: int = LINE_LABEL_MIN_LINES,
) -> tuple[str, ...]:
    """The labels that cover their lines from end to end in (tags or labels, line ids) of
    labelled receipts, sorted. Lines of a single word say nothing either way."""
    holding: Counter[str] = Counter()
    whole: Counter[str] = Counter()
    for tags, lines in receipts:
        by_line: dict[int, list[str]] = {}
        for tag, line in zip(tags, lines, strict=True):
            by_line.setdefault(line, []).append(label_of(tag))
        for labels in by_line.values():
            if len(labels) < 2:
                continue
            for label in set(labels) - {OUTSIDE}:
                holding[label] += 1
                whole[label] += all(other == label for other in labels)
    return tuple(
        sorted(
            label
            for label, count in holding.items()
            if count >= min_lines and whole[label] / count >= min_share
        )
    )


def decode_receipt(
    tags: Sequence[str],
    rows: Sequence[Sequence[float]],
    lines: Sequence[int],
    line_labels: Iterable[str] = (),
) -> list[DecodedWord]:
    """One receipt's words from their tag probabilities (one row per word), line-level
    labels kept line-consistent."""
    if len(rows) != len(lines):
        raise ValueError(f"{len(rows)} probability rows for {len(lines)} line ids")
    words = [decode_word(tags, row) for row in rows]
    wanted = sorted(set(line_labels))
    if not wanted:
        return words
    by_line: dict[int, list[int]] = {}
    for index, line in enumerate(lines):
        by_line.setdefault(line, []).append(index)
    for indices in by_line.values():
        votes = Counter(words[i].label for i in indices)
        settled = next((label for label in wanted if 2 * votes[label] >= len(indices)), None)
        for i in indices:
            word = words[i]
            if settled is not None:
                words[i] = replace(word, label=settled, confidence=_probability(word, settled))
            elif word.label in wanted:
                others = {k: v for k, v in word.scores.items() if k not in wanted}
                label = max(others, key=lambda k: (others[k], k == OUTSIDE), default=OUTSIDE)
                words[i] = replace(word, label=label, confidence=_probability(word, label))
    return words


def _probability(word: DecodedWord, label: str) -> float:
    return min(1.0, max(0.0, word.scores.get(label, 0.0)))


def bio_by_lines(labels: Sequence[str], lines: Sequence[int]) -> list[str]:
    """BIO tags: an entity starts at a label change or at a new line."""
    if len(labels) != len(lines):
        raise ValueError(f"{len(labels)} labels for {len(lines)} line ids")
    tags = []
    previous, previous_line = OUTSIDE, None
    for label, line in zip(labels, lines, strict=True):
        if label == OUTSIDE:
            tags.append(OUTSIDE)
        elif label == previous and line == previous_line:
            tags.append(f"I-{label}")
        else:
            tags.append(f"B-{label}")
        previous, previous_line = label, line
    return tags
