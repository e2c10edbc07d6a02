"""OCRResult: reading order and boxes inside the image, and the unlabelled receipt it becomes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receipts.domain.boxes import BoundingBox
from receipts.domain.labels import OUTSIDE
from receipts.domain.ocr import OCRResult, OCRWord


def _word(word_id: int, line_id: int, x0: float = 0, x1: float = 10) -> OCRWord:
    return OCRWord(
        word_id=word_id,
        line_id=line_id,
        text=f"w{word_id}",
        box=BoundingBox(x0=x0, y0=0, x1=x1, y1=10),
        confidence=0.5,
    )


def test_lines_text_and_receipt() -> None:
    result = OCRResult(width=50, height=20, words=(_word(0, 0), _word(1, 0), _word(2, 3)))
    assert list(result.lines()) == [0, 3]
    assert result.text == "w0 w1\nw2"
    receipt = result.to_receipt("r-1", image="file:///r.png")
    assert (receipt.receipt_id, receipt.width, receipt.height, receipt.image) == (
        "r-1",
        50,
        20,
        "file:///r.png",
    )
    assert [(w.word_id, w.line_id, w.label) for w in receipt.words] == [
        (0, 0, OUTSIDE),
        (1, 0, OUTSIDE),
        (2, 3, OUTSIDE),
    ]


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ((_word(1, 0),), r"words\[0\]: word_id 1, expected 0"),
        ((_word(0, 2), _word(1, 1)), r"words\[1\]: line_id 1 after line 2"),
        ((_word(0, 0, x1=51),), r"words\[0\] \('w0'\): box .* outside the 50x20 image"),
    ],
)
def test_invariants(words: tuple[OCRWord, ...], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        OCRResult(width=50, height=20, words=words)


def test_confidence_and_text_bounds() -> None:
    with pytest.raises(ValidationError, match="confidence"):
        OCRWord(
            word_id=0, line_id=0, text="a", box=BoundingBox(x0=0, y0=0, x1=1, y1=1), confidence=1.01
        )
    with pytest.raises(ValidationError, match="text"):
        OCRWord(
            word_id=0, line_id=0, text="", box=BoundingBox(x0=0, y0=0, x1=1, y1=1), confidence=1
        )
