"""The label-store port: where labelled receipts come from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from receipts.domain.labels import ValidationStatus
from receipts.domain.receipt import Receipt

MAX_RECORD_BYTES = 1024**2
"""The default largest record of one receipt (a JSONL line): a real receipt is under 25 KB."""
MAX_RECEIPT_WORDS = 5_000
"""The default most words of one receipt: a long real one has a few hundred."""


class LabelStore(Protocol):
    """Receipts with their words, word labels and the labels' validation status."""

    @property
    def source(self) -> str:
        """Where the receipts come from (a path, a table name), recorded as lineage."""
        ...

    def receipts(self) -> Iterator[Receipt]: ...

    def get(self, receipt_id: str) -> Receipt:
        """Raises KeyError naming the receipt when it is unknown."""
        ...

    def put(self, receipts: Iterable[Receipt]) -> None: ...

    def set_validation_status(
        self, receipt_id: str, word_id: int, status: ValidationStatus
    ) -> None:
        """A reviewer's verdict on one word's label."""
        ...

    def count_labels(self) -> dict[str, dict[str, int]]:
        """Label → validation status → words (O excluded), as the seeds' dataset stats show."""
        ...
