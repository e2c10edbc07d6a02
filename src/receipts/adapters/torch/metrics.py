"""Entity-level precision, recall and F1 (seqeval), overall and per label."""

from __future__ import annotations

from collections.abc import Sequence

from seqeval.metrics import classification_report

from receipts.domain.job_metric import LabelScore


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
