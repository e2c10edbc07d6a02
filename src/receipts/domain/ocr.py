"""What an OCR engine sees in one image: words with pixel boxes, lines and confidences."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from receipts.domain.aggregate import ValueObject
from receipts.domain.boxes import BoundingBox
from receipts.domain.receipt import Receipt, Word


class OCRWord(ValueObject):
    word_id: int = Field(ge=0)
    line_id: int = Field(ge=0)
    text: str = Field(min_length=1)
    box: BoundingBox
    confidence: float = Field(ge=0.0, le=1.0)


class OCRResult(ValueObject):
    """Words in reading order: word ids 0..n-1, line ids never decreasing, boxes in the image."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    words: tuple[OCRWord, ...] = ()

    @model_validator(mode="after")
    def _reading_order_inside_image(self) -> Self:
        previous_line = 0
        for index, word in enumerate(self.words):
            if word.word_id != index:
                raise ValueError(f"words[{index}]: word_id {word.word_id}, expected {index}")
            if word.line_id < previous_line:
                raise ValueError(
                    f"words[{index}]: line_id {word.line_id} after line {previous_line}"
                    " (words must be in reading order)"
                )
            previous_line = word.line_id
            box = word.box
            if box.x0 < 0 or box.y0 < 0 or box.x1 > self.width or box.y1 > self.height:
                raise ValueError(
                    f"words[{index}] ({word.text!r}): box {box.as_list()} is outside the"
                    f" {self.width}x{self.height} image"
                )
        return self

    @property
    def text(self) -> str:
        """The recognised text, one line per OCR line."""
        return "\n".join(" ".join(w.text for w in line) for line in self.lines().values())

    def lines(self) -> dict[int, list[OCRWord]]:
        grouped: dict[int, list[OCRWord]] = {}
        for word in self.words:
            grouped.setdefault(word.line_id, []).append(word)
        return grouped

    def to_receipt(self, receipt_id: str, source: str = "ocr", image: str | None = None) -> Receipt:
        """An unlabelled receipt (every word O) for inference."""
        return Receipt(
            receipt_id=receipt_id,
            source=source,
            width=self.width,
            height=self.height,
            image=image,
            words=tuple(
                Word(word_id=w.word_id, line_id=w.line_id, text=w.text, box=w.box)
                for w in self.words
            ),
        )
