"""`AppleVisionEngine`: VNRecognizeTextRequest, as the seeds' Swift worker runs it.

pyobjc's `Vision` and `Quartz` are imported inside `recognize` only, so this module
imports anywhere; elsewhere than macOS `recognize` raises OCRFailed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from receipts.adapters.image_files import MAX_PIXELS, checked_image
from receipts.application.ports.ocr_engine import OCRFailed
from receipts.domain.boxes import BoundingBox
from receipts.domain.ocr import OCRResult, OCRWord


def vision_rect_to_pixels(
    x: float, y: float, w: float, h: float, width: int, height: int
) -> BoundingBox:
    """Vision's normalised rect (origin bottom-left) as a pixel box (origin top-left), clamped."""

    def clamp(value: float, limit: int) -> float:
        return min(max(value, 0.0), float(limit))

    x0, x1 = clamp(x * width, width), clamp((x + w) * width, width)
    y0, y1 = clamp((1.0 - y - h) * height, height), clamp((1.0 - y) * height, height)
    return BoundingBox(x0=min(x0, x1), y0=min(y0, y1), x1=max(x0, x1), y1=max(y0, y1))


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class AppleVisionEngine:
    name = "vision"

    def __init__(
        self,
        recognition_level: str = "accurate",
        languages: tuple[str, ...] = ("en-US",),
        language_correction: bool = True,
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        if recognition_level not in ("accurate", "fast"):
            raise ValueError(
                f"recognition_level must be accurate or fast, got {recognition_level!r}"
            )
        self.recognition_level = recognition_level
        self.languages = languages
        self.language_correction = language_correction
        self.max_pixels = max_pixels

    def recognize(self, image_path: Path) -> OCRResult:
        image_path = Path(image_path)
        if sys.platform != "darwin":
            raise OCRFailed(image_path, f"Apple Vision runs on macOS only (this is {sys.platform})")
        width, height, _ = checked_image(image_path, self.max_pixels)
        try:
            import Quartz  # type: ignore[import-not-found]
            import Vision  # type: ignore[import-not-found]
        except ImportError as error:
            raise OCRFailed(
                image_path,
                "pyobjc's Vision is missing: pip install pyobjc-framework-Vision"
                " pyobjc-framework-Quartz",
            ) from error
        observations = self._observations(Vision, Quartz, image_path)
        return OCRResult(
            width=width, height=height, words=tuple(self._words(observations, width, height))
        )

    def _observations(self, vision: Any, quartz: Any, image_path: Path) -> list[Any]:
        url = quartz.CFURLCreateFromFileSystemRepresentation(
            None, str(image_path).encode(), len(str(image_path).encode()), False
        )
        request = vision.VNRecognizeTextRequest.alloc().init()
        level = (
            vision.VNRequestTextRecognitionLevelAccurate
            if self.recognition_level == "accurate"
            else vision.VNRequestTextRecognitionLevelFast
        )
        request.setRecognitionLevel_(level)
        request.setRecognitionLanguages_(list(self.languages))
        request.setUsesLanguageCorrection_(self.language_correction)
        handler = vision.VNImageRequestHandler.alloc().initWithURL_options_(url, None)
        ok, error = handler.performRequests_error_([request], None)
        if not ok:
            raise OCRFailed(image_path, f"Vision request failed: {error}")
        return list(request.results() or [])

    def _words(self, observations: list[Any], width: int, height: int) -> list[OCRWord]:
        # each observation is a line; Vision's order is not guaranteed, so sort top to bottom
        lines: list[tuple[float, float, list[tuple[str, BoundingBox, float]]]] = []
        for observation in observations:
            candidates = observation.topCandidates_(1)
            if not candidates:
                continue
            candidate = candidates[0]
            text = str(candidate.string())
            confidence = min(max(float(candidate.confidence()), 0.0), 1.0)
            line_box = observation.boundingBox()
            words: list[tuple[str, BoundingBox, float]] = []
            start = 0
            for token in text.split():
                location = text.index(token, start)
                start = location + len(token)
                # NSRange counts UTF-16 code units, not Python characters
                ns_range = (_utf16_length(text[:location]), _utf16_length(token))
                rect_observation, _ = candidate.boundingBoxForRange_error_(ns_range, None)
                rect = rect_observation.boundingBox() if rect_observation is not None else line_box
                box = vision_rect_to_pixels(
                    rect.origin.x, rect.origin.y, rect.size.width, rect.size.height, width, height
                )
                words.append((token, box, confidence))
            if words:
                top = (1.0 - line_box.origin.y - line_box.size.height) * height
                lines.append((top, line_box.origin.x * width, words))
        lines.sort(key=lambda line: (line[0], line[1]))
        result: list[OCRWord] = []
        for line_id, (_, _, words) in enumerate(lines):
            for text, box, confidence in words:
                result.append(
                    OCRWord(
                        word_id=len(result),
                        line_id=line_id,
                        text=text,
                        box=box,
                        confidence=confidence,
                    )
                )
        return result
