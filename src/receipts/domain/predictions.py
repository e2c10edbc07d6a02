"""What a model says about a receipt: one label and confidence per word, and its fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Self

from pydantic import Field

from receipts.domain.aggregate import ValueObject
from receipts.domain.decoding import DecodedWord
from receipts.domain.fields import LabelledWord, extract_fields, line_items
from receipts.domain.labels import OUTSIDE
from receipts.domain.receipt import Receipt

Runtime = Literal["torch", "onnx", "coreml"]


class WordPrediction(ValueObject):
    word_id: int = Field(ge=0)
    line_id: int = Field(ge=0)
    text: str
    label: str
    """The entity label without its BIO prefix ("O" outside any entity)."""
    confidence: float = Field(ge=0.0, le=1.0)
    """The probability of `label`."""
    scores: dict[str, float] = Field(default_factory=dict)
    """The probability of every label the model knows ("O" included), when it gave them."""


class ReceiptPrediction(ValueObject):
    """Every word of one receipt, in the receipt's order, with the model's label."""

    receipt_id: str
    words: tuple[WordPrediction, ...] = ()

    @classmethod
    def from_decoded(cls, receipt: Receipt, decoded: Sequence[DecodedWord]) -> Self:
        """From one decoded word (`domain.decoding`) per word of `receipt`, in word order."""
        return cls(
            receipt_id=receipt.receipt_id,
            words=tuple(
                WordPrediction(
                    word_id=word.word_id,
                    line_id=word.line_id,
                    text=word.text,
                    label=guess.label,
                    confidence=guess.confidence,
                    scores={name: round(p, 6) for name, p in guess.scores.items()},
                )
                for word, guess in zip(receipt.words, decoded, strict=True)
            ),
        )

    def labelled_words(self) -> list[LabelledWord]:
        return [
            LabelledWord(
                text=w.text,
                label=w.label,
                line_id=w.line_id,
                confidence=w.confidence,
                scores=w.scores,
            )
            for w in self.words
        ]

    def fields(self) -> dict[str, str]:
        """merchant/company, address, phone, date, time, total as `extract_fields` reads them."""
        return extract_fields(self.labelled_words())

    def line_items(self) -> list[dict[str, str]]:
        return line_items(self.labelled_words())

    def entity_words(self) -> list[WordPrediction]:
        return [w for w in self.words if w.label != OUTSIDE]


class ModelInfo(ValueObject):
    """Which model made the predictions (the seeds' `model_info`, plus how it ran)."""

    model_name: str
    job_id: str = ""
    source_uri: str = ""
    runtime: Runtime = "torch"
    device: str = "cpu"
    quantization: str = "float32"
    labels: tuple[str, ...] = ()
    """Entity labels the model knows (BIO prefixes removed, O excluded)."""
