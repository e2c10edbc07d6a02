"""From a model's tag probabilities to word labels and the BIO tags they imply.

A model is trained on BIO tags, but under this project's tagging scheme (`bio_by_lines`) a
word's B or I is not information of its own: an entity starts at a label change or at a new
line, so the tags follow from the labels and the lines. Decoding therefore picks each word's
label by the probability of the label (its B and I summed), then derives B and I from the
lines. A model that puts `I-ADDRESS` on the first word of a new line (or splits its belief
between `B-` and `I-`) then still yields the entity it means, and every decoded sequence is
a valid one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
