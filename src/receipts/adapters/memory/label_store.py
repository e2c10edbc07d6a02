"""Receipts kept in a dict: the in-memory label store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from receipts.domain.labels import ValidationStatus
from receipts.domain.receipt import Receipt, count_labels


class InMemoryLabelStore:
    def __init__(self, receipts: Iterable[Receipt] = (), source: str = "memory") -> None:
        self._receipts: dict[str, Receipt] = {}
        self._source = source
        self.put(receipts)

    @property
    def source(self) -> str:
        return self._source

    def receipts(self) -> Iterator[Receipt]:
        return iter(list(self._receipts.values()))

    def get(self, receipt_id: str) -> Receipt:
        try:
            return self._receipts[receipt_id]
        except KeyError:
            raise KeyError(f"unknown receipt {receipt_id!r}") from None

    def count_labels(self) -> dict[str, dict[str, int]]:
        return count_labels(list(self.receipts()))

    def put(self, receipts: Iterable[Receipt]) -> None:
        for receipt in receipts:
            self._receipts[receipt.receipt_id] = receipt

    def set_validation_status(
        self, receipt_id: str, word_id: int, status: ValidationStatus
    ) -> None:
        receipt = self.get(receipt_id)
        if not any(word.word_id == word_id for word in receipt.words):
            raise KeyError(f"receipt {receipt_id!r} has no word {word_id}")
        words = tuple(
            word.model_copy(update={"validation_status": status})
            if word.word_id == word_id
            else word
            for word in receipt.words
        )
        self._receipts[receipt_id] = receipt.model_copy(update={"words": words})
