"""The Apple Vision adapter: imports anywhere, refuses off macOS, converts Vision's rects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from receipts.adapters.apple_vision import AppleVisionEngine, vision_rect_to_pixels
from receipts.application.ports.ocr_engine import OCRFailed


def test_module_loads_without_pyobjc() -> None:
    assert "Vision" not in sys.modules or sys.platform == "darwin"
    assert AppleVisionEngine().name == "vision"


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the refusal elsewhere than macOS")
def test_refuses_off_macos(tmp_path: Path) -> None:
    with pytest.raises(OCRFailed, match=r"receipt.png.*Apple Vision runs on macOS only"):
        AppleVisionEngine().recognize(tmp_path / "receipt.png")


def test_vision_rect_origin_is_bottom_left() -> None:
    box = vision_rect_to_pixels(0.1, 0.7, 0.5, 0.2, width=200, height=100)
    assert box.as_list() == pytest.approx([20, 10, 120, 30])
    clamped = vision_rect_to_pixels(-0.1, -0.05, 1.3, 0.5, width=200, height=100)
    assert clamped.as_list() == pytest.approx([0, 55, 200, 100])


def test_bad_recognition_level() -> None:
    with pytest.raises(ValueError, match="recognition_level"):
        AppleVisionEngine(recognition_level="best")


@pytest.mark.skipif(sys.platform != "darwin", reason="Apple Vision runs on macOS only")
def test_reads_printed_words_on_macos(tmp_path: Path) -> None:
    pytest.importorskip("Vision")
    image = tmp_path / "receipt.png"
    canvas = Image.new("L", (600, 200), color=255)
    ImageDraw.Draw(canvas).text(
        (20, 40), "TOTAL 12.50", fill=0, font=ImageFont.load_default(size=40)
    )
    canvas.save(image)
    result = AppleVisionEngine().recognize(image)
    assert [w.text for w in result.words] == ["TOTAL", "12.50"]
    assert all(0 <= w.confidence <= 1 for w in result.words)
    assert result.words[0].box.x0 < result.words[1].box.x0
