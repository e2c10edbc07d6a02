"""Bounding boxes: ordered corners, repair of inverted ones, LayoutLM's 0..1000 grid."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from receipts.domain.boxes import LAYOUT_SCALE, BoundingBox


def test_a_box_keeps_its_corners() -> None:
    box = BoundingBox.from_list([10, 20, 30, 40])
    assert box.as_list() == [10, 20, 30, 40]


@pytest.mark.parametrize("corners", [[30, 20, 10, 40], [10, 40, 30, 20]])
def test_an_inverted_box_is_refused(corners: list[float]) -> None:
    with pytest.raises(ValidationError, match="inverted box"):
        BoundingBox.from_list(corners)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_box_needs_finite_corners(bad: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        BoundingBox(x0=0, y0=0, x1=bad, y1=10)


@pytest.mark.parametrize("corners", [[1, 2, 3], [1, 2, 3, 4, 5]])
def test_a_box_has_four_numbers(corners: list[float]) -> None:
    with pytest.raises(ValueError, match="4 numbers"):
        BoundingBox.from_list(corners)
    with pytest.raises(ValueError, match="4 numbers"):
        BoundingBox.repaired(corners)


def test_repaired_flips_inverted_corners_and_says_so() -> None:
    box, repaired = BoundingBox.repaired([30, 40, 10, 20])

    assert box.as_list() == [10, 20, 30, 40]
    assert repaired is True


def test_repaired_leaves_an_ordered_box_alone() -> None:
    box, repaired = BoundingBox.repaired([10, 20, 30, 40])

    assert box.as_list() == [10, 20, 30, 40]
    assert repaired is False


def test_normalized_scales_to_the_layout_grid() -> None:
    box = BoundingBox(x0=50, y0=100, x1=100, y1=150)

    assert box.normalized(200, 300) == ((250, 333, 500, 500), False)


def test_normalized_clamps_a_box_outside_the_image_and_says_so() -> None:
    box = BoundingBox(x0=-5, y0=10, x1=120, y1=50)

    assert box.normalized(100, 100) == ((0, 100, 1000, 500), True)


@pytest.mark.parametrize(("width", "height"), [(0, 100), (100, 0), (-1, 100)])
def test_normalized_needs_a_positive_size(width: float, height: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        BoundingBox(x0=0, y0=0, x1=1, y1=1).normalized(width, height)


finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0, exclude_min=True, allow_infinity=False)


@given(corners=st.tuples(finite, finite, finite, finite), width=positive, height=positive)
@example(corners=(0.0, 0.0, 1e308, 1.0), width=1e-300, height=1.0)
def test_a_normalized_box_is_always_on_the_grid_and_ordered(
    corners: tuple[float, float, float, float], width: float, height: float
) -> None:
    box, _ = BoundingBox.repaired(corners)

    (x0, y0, x1, y1), _ = box.normalized(width, height)

    assert all(0 <= v <= LAYOUT_SCALE for v in (x0, y0, x1, y1))
    assert x0 <= x1
    assert y0 <= y1
