"""`SidecarOCREngine`: the seeds' `--stub-ocr`, words from a sidecar JSON next to the image.

For `receipt.png` the sidecar is `receipt.png.ocr.json`, else `receipt.json`:

    {
      "width": 600,                 # image size in pixels, must match the image
      "height": 800,
      "words": [                    # in reading order; word ids are the list positions
        {"text": "TOTAL",           # non-empty
         "box": [x0, y0, x1, y1],   # image pixels, inside the image, x0 <= x1, y0 <= y1
         "confidence": 0.98,        # optional, 0..1, default 1.0
         "line_id": 3}              # optional, >= 0, never decreasing; default: the
      ]                             #   previous word's line (0 for the first word)
    }

Unknown keys are refused, and every error names the bad field (`words[3].box`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from receipts.adapters.image_files import MAX_PIXELS, checked_image
from receipts.application.ports.ocr_engine import OCRFailed
from receipts.domain.boxes import BoundingBox
from receipts.domain.ocr import OCRResult, OCRWord


class _SidecarWord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1)
    box: tuple[float, float, float, float]
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    line_id: int | None = Field(None, ge=0)


class _Sidecar(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    words: list[_SidecarWord]


def _where(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(document)"


def sidecar_paths(image_path: Path) -> tuple[Path, Path]:
    """Where the sidecar of an image may be, in the order they are tried."""
    return image_path.with_name(image_path.name + ".ocr.json"), image_path.with_suffix(".json")


def parse_sidecar(raw: str | bytes) -> OCRResult:
    """A sidecar's JSON text as an OCRResult; ValueError names each bad field."""
    try:
        sidecar = _Sidecar.model_validate_json(raw)
    except ValidationError as error:
        problems = [f"{_where(e['loc'])}: {e['msg']}" for e in error.errors()]
        raise ValueError("; ".join(problems)) from None
    words: list[OCRWord] = []
    line_id = 0
    for index, word in enumerate(sidecar.words):
        where = f"words[{index}]"
        if word.line_id is not None:
            if word.line_id < line_id:
                raise ValueError(
                    f"{where}.line_id: {word.line_id} after line {line_id}"
                    " (words must be in reading order)"
                )
            line_id = word.line_id
        try:
            box = BoundingBox.from_list(list(word.box))
        except ValidationError as error:
            raise ValueError(f"{where}.box: {error.errors()[0]['msg']}") from None
        if box.x0 < 0 or box.y0 < 0 or box.x1 > sidecar.width or box.y1 > sidecar.height:
            raise ValueError(
                f"{where}.box: {box.as_list()} is outside the"
                f" {sidecar.width}x{sidecar.height} image"
            )
        words.append(
            OCRWord(
                word_id=index,
                line_id=line_id,
                text=word.text,
                box=box,
                confidence=word.confidence,
            )
        )
    return OCRResult(width=sidecar.width, height=sidecar.height, words=tuple(words))


class SidecarOCREngine:
    """Reads what a sidecar JSON says the image contains; checks the image like a real engine."""

    name = "stub"

    def __init__(self, max_pixels: int = MAX_PIXELS) -> None:
        self.max_pixels = max_pixels

    def recognize(self, image_path: Path) -> OCRResult:
        image_path = Path(image_path)
        width, height, _ = checked_image(image_path, self.max_pixels)
        candidates = sidecar_paths(image_path)
        sidecar = next((p for p in candidates if p.is_file()), None)
        if sidecar is None:
            raise OCRFailed(
                image_path, f"no sidecar OCR file ({candidates[0].name} or {candidates[1].name})"
            )
        try:
            raw = sidecar.read_bytes()
        except OSError as error:
            raise OCRFailed(image_path, f"sidecar {sidecar.name} is unreadable: {error}") from error
        try:
            result = parse_sidecar(raw)
        except ValueError as error:
            raise OCRFailed(image_path, f"sidecar {sidecar.name}: {error}") from error
        if (result.width, result.height) != (width, height):
            raise OCRFailed(
                image_path,
                f"sidecar {sidecar.name}: width/height {result.width}x{result.height}"
                f" but the image is {width}x{height}",
            )
        return result
