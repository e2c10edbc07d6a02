"""Receipts as training and inference see them: words with boxes, lines and labels."""

from __future__ import annotations

from collections import Counter
from typing import Self

from pydantic import Field, model_validator

from receipts.domain.aggregate import ValueObject
from receipts.domain.boxes import BoundingBox
from receipts.domain.labels import OUTSIDE, ValidationStatus


class Word(ValueObject):
    word_id: int = Field(ge=0)
    line_id: int = Field(ge=0)
    text: str
    box: BoundingBox
    label: str = OUTSIDE
    validation_status: ValidationStatus = ValidationStatus.VALID

    @property
    def training_label(self) -> str:
        """The label training sees: only VALID labels count, everything else is O."""
        return self.label if self.validation_status is ValidationStatus.VALID else OUTSIDE


class Receipt(ValueObject):
    receipt_id: str = Field(min_length=1)
    source: str = "unknown"
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    words: tuple[Word, ...]
    image: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_word_ids(self) -> Self:
        ids = [word.word_id for word in self.words]
        if len(ids) != len(set(ids)):
            duplicated = sorted(i for i, n in Counter(ids).items() if n > 1)
            raise ValueError(f"receipt {self.receipt_id}: duplicate word ids {duplicated[:5]}")
        return self

    def lines(self) -> dict[int, list[Word]]:
        grouped: dict[int, list[Word]] = {}
        for word in self.words:
            grouped.setdefault(word.line_id, []).append(word)
        return grouped


def count_labels(receipts: list[Receipt]) -> dict[str, dict[str, int]]:
    """Label → validation status → words (O excluded), as the seeds' dataset stats show."""
    counts: dict[str, dict[str, int]] = {}
    for receipt in receipts:
        for word in receipt.words:
            if word.label == OUTSIDE:
                continue
            by_status = counts.setdefault(word.label, {})
            by_status[word.validation_status.value] = (
                by_status.get(word.validation_status.value, 0) + 1
            )
    return dict(sorted(counts.items()))
