"""Bounding boxes in image pixels, and LayoutLM's 0..1000 normalisation."""

from __future__ import annotations

import math
from typing import Self

from pydantic import model_validator

from receipts.domain.aggregate import ValueObject

LAYOUT_SCALE = 1000


class BoundingBox(ValueObject):
    """`[x0, y0, x1, y1]` in pixels, x0 <= x1 and y0 <= y1."""

    x0: float
    y0: float
    x1: float
    y1: float

    @model_validator(mode="after")
    def _ordered_and_finite(self) -> Self:
        if not all(math.isfinite(v) for v in (self.x0, self.y0, self.x1, self.y1)):
            raise ValueError("box coordinates must be finite numbers")
        if self.x0 > self.x1 or self.y0 > self.y1:
            raise ValueError(f"inverted box {self.as_list()}: need x0 <= x1 and y0 <= y1")
        return self

    @classmethod
    def from_list(cls, values: list[float] | tuple[float, ...]) -> Self:
        if len(values) != 4:
            raise ValueError(f"a box has 4 numbers [x0, y0, x1, y1], got {len(values)}")
        x0, y0, x1, y1 = values
        return cls(x0=x0, y0=y0, x1=x1, y1=y1)

    @classmethod
    def repaired(cls, values: list[float] | tuple[float, ...]) -> tuple[Self, bool]:
        """A box from possibly inverted corners; the flag tells whether it needed repair."""
        if len(values) != 4:
            raise ValueError(f"a box has 4 numbers [x0, y0, x1, y1], got {len(values)}")
        x0, y0, x1, y1 = values
        box = cls(x0=min(x0, x1), y0=min(y0, y1), x1=max(x0, x1), y1=max(y0, y1))
        return box, (x0 > x1 or y0 > y1)

    def as_list(self) -> list[float]:
        return [self.x0, self.y0, self.x1, self.y1]

    def normalized(self, width: float, height: float) -> tuple[tuple[int, int, int, int], bool]:
        """The box on LayoutLM's 0..1000 grid, clamped; the flag tells whether it was clamped."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        raw = (
            self.x0 / width * LAYOUT_SCALE,
            self.y0 / height * LAYOUT_SCALE,
            self.x1 / width * LAYOUT_SCALE,
            self.y1 / height * LAYOUT_SCALE,
        )
        clamped = tuple(round(min(LAYOUT_SCALE, max(0.0, v))) for v in raw)
        was_clamped = any(v < 0 or v > LAYOUT_SCALE for v in raw)
        return (clamped[0], clamped[1], clamped[2], clamped[3]), was_clamped
