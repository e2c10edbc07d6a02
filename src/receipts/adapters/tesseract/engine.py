"""`TesseractEngine`: the `tesseract` executable's TSV output as an OCRResult.

Runs `tesseract IMAGE stdout -l LANG --psm N tsv` in a subprocess (no pytesseract).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from receipts.adapters.image_files import MAX_PIXELS, checked_image
from receipts.application.ports.ocr_engine import OCRFailed
from receipts.domain.boxes import BoundingBox
from receipts.domain.ocr import OCRResult, OCRWord

INSTALL_HINT = (
    "install it with `apt-get install tesseract-ocr tesseract-ocr-eng`"
    " (macOS: `brew install tesseract`) or pass executable= its path"
)
TSV_COLUMNS = (
    "level",
    "page_num",
    "block_num",
    "par_num",
    "line_num",
    "word_num",
    "left",
    "top",
    "width",
    "height",
    "conf",
    "text",
)
WORD_LEVEL = 5
# formats leptonica reads directly; anything else Pillow opens is converted to PNG first
DIRECT_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "BMP", "GIF", "PPM"})


def parse_tsv(tsv: str, width: int, height: int) -> list[OCRWord]:
    """Word rows (level 5, confidence >= 0, non-blank text) in tesseract's reading order.

    Lines are (page, block, paragraph, line) numbered 0.. by first appearance; boxes are
    clamped to the image; confidence 0..100 becomes 0..1. ValueError names a bad row.
    """
    rows = tsv.splitlines()
    if not rows:
        return []
    header = rows[0].split("\t")
    if tuple(header[: len(TSV_COLUMNS)]) != TSV_COLUMNS:
        raise ValueError(f"not tesseract TSV: header is {rows[0][:120]!r}")
    words: list[OCRWord] = []
    line_ids: dict[tuple[int, int, int, int], int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row.strip():
            continue
        cells = row.split("\t")
        if len(cells) < len(TSV_COLUMNS) - 1:
            raise ValueError(f"TSV row {number} has {len(cells)} columns: {row[:120]!r}")
        try:
            level, page, block, par, line, _, left, top, w, h = (int(c) for c in cells[:10])
            confidence = float(cells[10])
        except ValueError as error:
            raise ValueError(f"TSV row {number}: {error}: {row[:120]!r}") from error
        text = cells[11].strip() if len(cells) > 11 else ""
        if level != WORD_LEVEL or confidence < 0 or not text:
            continue
        key = (page, block, par, line)
        line_id = line_ids.setdefault(key, len(line_ids))
        x0, y0 = min(max(left, 0), width), min(max(top, 0), height)
        x1, y1 = min(max(left + w, x0), width), min(max(top + h, y0), height)
        words.append(
            OCRWord(
                word_id=len(words),
                line_id=line_id,
                text=text,
                box=BoundingBox(x0=x0, y0=y0, x1=x1, y1=y1),
                confidence=min(confidence, 100.0) / 100.0,
            )
        )
    return words


class TesseractEngine:
    """OCR with the `tesseract` executable; psm 4 reads a receipt as one column of lines."""

    name = "tesseract"

    def __init__(
        self,
        lang: str = "eng",
        psm: int = 4,
        timeout_s: float = 60.0,
        executable: str = "tesseract",
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        if not 0 <= psm <= 13:
            raise ValueError(f"psm must be 0..13, got {psm}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.lang = lang
        self.psm = psm
        self.timeout_s = timeout_s
        self.executable = executable
        self.max_pixels = max_pixels

    def recognize(self, image_path: Path) -> OCRResult:
        image_path = Path(image_path)
        width, height, image_format = checked_image(image_path, self.max_pixels)
        if image_format in DIRECT_FORMATS:
            tsv = self._run(image_path, image_path)
        else:
            with tempfile.TemporaryDirectory(prefix="receipts-ocr-") as scratch:
                converted = Path(scratch) / "image.png"
                with Image.open(image_path) as image:
                    image.save(converted)
                tsv = self._run(image_path, converted)
        try:
            words = parse_tsv(tsv, width, height)
            return OCRResult(width=width, height=height, words=tuple(words))
        except ValueError as error:
            raise OCRFailed(image_path, f"unreadable tesseract output: {error}") from error

    def _run(self, image_path: Path, source: Path) -> str:
        executable = shutil.which(self.executable)
        if executable is None:
            raise OCRFailed(
                image_path, f"tesseract executable {self.executable!r} not found; {INSTALL_HINT}"
            )
        command = [
            executable,
            str(source),
            "stdout",
            "-l",
            self.lang,
            "--psm",
            str(self.psm),
            "tsv",
        ]
        # tesseract's OpenMP threads only slow it down on small images and busy machines
        env = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise OCRFailed(
                image_path, f"tesseract timed out after {self.timeout_s:g} s"
            ) from error
        except OSError as error:
            raise OCRFailed(
                image_path, f"could not run {executable}: {error}; {INSTALL_HINT}"
            ) from error
        if completed.returncode != 0:
            stderr = completed.stderr.strip()[-500:]
            hint = ""
            if "Failed loading language" in stderr or "Error opening data file" in stderr:
                hint = f" (language data missing: `apt-get install tesseract-ocr-{self.lang}`)"
            raise OCRFailed(
                image_path, f"tesseract exited with {completed.returncode}: {stderr}{hint}"
            )
        return completed.stdout
