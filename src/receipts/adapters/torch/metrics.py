"""Entity-level precision, recall and F1 (seqeval), overall and per label; word-level
confusion of labels."""

from __future__ import annotations

from collections.abc import Sequence

from seqeval.metrics import classification_report

from receipts.domain.job_metric import LabelScore
from receipts.domain.labels import label_of


def entity_scores(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> tuple[float, float, float, dict[str, LabelScore]]:
    if not any(tag != "O" for seq in [*truth, *predicted] for tag in seq):
        return 0.0, 0.0, 0.0, {}
    report = classification_report(
        [list(t) for t in truth], [list(p) for p in predicted], output_dict=True, zero_division=0
    )
    per_label = {
        label: LabelScore(
            precision=float(v["precision"]),
            recall=float(v["recall"]),
            f1=float(v["f1-score"]),
            support=int(v["support"]),
        )
        for label, v in report.items()
        if label not in ("micro avg", "macro avg", "weighted avg")
    }
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    return float(micro["precision"]), float(micro["recall"]), float(micro["f1-score"]), per_label


def word_confusion(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, dict[str, int]]:
    """True label → predicted label → words, BIO prefixes dropped (`B-DATE`, `I-DATE` → DATE)."""
    counts: dict[str, dict[str, int]] = {}
    for true_tags, guessed_tags in zip(truth, predicted, strict=True):
        for true_tag, guessed_tag in zip(true_tags, guessed_tags, strict=True):
            row = counts.setdefault(label_of(true_tag), {})
            row[label_of(guessed_tag)] = row.get(label_of(guessed_tag), 0) + 1
    return {label: dict(sorted(row.items())) for label, row in sorted(counts.items())}
