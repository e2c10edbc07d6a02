"""The OCR engine port: one image in, words with pixel boxes out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from receipts.domain.ocr import OCRResult, OCRWord

__all__ = ["OCREngine", "OCREngineUnavailable", "OCRFailed", "OCRResult", "OCRWord"]


class OCRFailed(Exception):
    """The image could not be read; the message names the file and why."""

    def __init__(self, image_path: Path | str, reason: str) -> None:
        super().__init__(f"OCR failed for {image_path}: {reason}")
        self.image_path = Path(image_path)
        self.reason = reason


class OCREngine(Protocol):
    name: str

    def recognize(self, image_path: Path) -> OCRResult:
        """The words of the image in reading order; no words is a result, not an error.

        Raises OCRFailed for a missing, corrupt or oversized file or a failing engine.
        """
        ...


class OCREngineUnavailable(Exception):
    """The engine a job asks for cannot run here (not installed, wrong OS, unknown name)."""
