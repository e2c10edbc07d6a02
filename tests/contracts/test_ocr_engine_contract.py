"""Contract tests every OCREngine adapter must pass, on a receipt rendered by the synthetic
generator: words in reading order, boxes inside the image, confidences in 0..1, a blank
image is no words, and a missing or corrupt file is OCRFailed naming the file."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from receipts.adapters.stub_ocr import SidecarOCREngine
from receipts.adapters.synthetic.generator import generate_receipt, render
from receipts.adapters.tesseract import TesseractEngine
from receipts.application.ports.ocr_engine import OCREngine, OCRFailed
from receipts.domain.ocr import OCRResult
from receipts.domain.receipt import Receipt

RECEIPTS = (0, 1, 2, 3)
"""Indices of the synthetic receipts (seed 0) every engine reads."""


@dataclass(frozen=True)
class Engine:
    engine: OCREngine
    prepare: Callable[[Path, Receipt | None], None]
    """Makes what the engine needs beside an image (the stub's sidecar)."""
    min_exact: float
    """Share of the rendered words it must recognise exactly."""


def _nothing(image: Path, truth: Receipt | None) -> None:
    pass


def _write_sidecar(image: Path, truth: Receipt | None) -> None:
    with Image.open(image) as opened:
        width, height = opened.size
    words = [] if truth is None else truth.words
    document = {
        "width": width,
        "height": height,
        "words": [
            {
                "text": w.text,
                "box": [
                    max(0.0, w.box.x0),
                    max(0.0, w.box.y0),
                    min(width, w.box.x1),
                    min(height, w.box.y1),
                ],
                "confidence": 0.99,
                "line_id": w.line_id,
            }
            for w in words
        ],
    }
    image.with_name(image.name + ".ocr.json").write_text(json.dumps(document))


def _engine(name: str) -> Engine:
    if name == "tesseract":
        if shutil.which("tesseract") is None:
            pytest.skip(
                "tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)"
            )
        # measured 184/220 = 0.84 of the words exact over receipts 0-3 (tesseract 5.3.0, psm 4)
        return Engine(TesseractEngine(), _nothing, min_exact=0.78)
    return Engine(SidecarOCREngine(), _write_sidecar, min_exact=1.0)


@pytest.fixture(scope="module", params=["tesseract", "stub"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return _engine(request.param)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ocr-images")
    for index in RECEIPTS:
        render(0, index).save(folder / f"receipt-{index}.png")
    Image.new("L", (400, 300), color=250).save(folder / "blank.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    (folder / "notes.png").write_text("a text file named like an image")
    return folder


@pytest.fixture(scope="module")
def results(
    engine: Engine, images: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, tuple[Receipt, OCRResult]]:
    folder = tmp_path_factory.mktemp("ocr-run")
    read: dict[int, tuple[Receipt, OCRResult]] = {}
    for index in RECEIPTS:
        image = folder / f"receipt-{index}.png"
        shutil.copy(images / image.name, image)
        truth = generate_receipt(0, index)[0]
        engine.prepare(image, truth)
        read[index] = (truth, engine.engine.recognize(image))
    return read


def test_size_is_the_images(results: dict[int, tuple[Receipt, OCRResult]]) -> None:
    for truth, result in results.values():
        assert (result.width, result.height) == (truth.width, truth.height)


def test_words_in_reading_order(results: dict[int, tuple[Receipt, OCRResult]]) -> None:
    for _, result in results.values():
        assert result.words
        assert [w.word_id for w in result.words] == list(range(len(result.words)))
        line_ids = [w.line_id for w in result.words]
        assert line_ids == sorted(line_ids)
        centres = []
        for words in result.lines().values():
            assert [w.box.x0 for w in words] == sorted(w.box.x0 for w in words)
            centres.append(sum((w.box.y0 + w.box.y1) / 2 for w in words) / len(words))
        # top to bottom, allowing a little overlap between neighbouring lines
        assert all(b > a - 10 for a, b in itertools.pairwise(centres)), centres


def test_boxes_inside_image_and_confidences_in_range(
    results: dict[int, tuple[Receipt, OCRResult]],
) -> None:
    for _, result in results.values():
        for w in result.words:
            assert 0 <= w.box.x0 <= w.box.x1 <= result.width
            assert 0 <= w.box.y0 <= w.box.y1 <= result.height
            assert 0.0 <= w.confidence <= 1.0
            assert w.text.strip() == w.text and w.text


def test_recognises_the_rendered_words(
    engine: Engine, results: dict[int, tuple[Receipt, OCRResult]]
) -> None:
    exact = total = 0
    for truth, result in results.values():
        seen = Counter(w.text for w in result.words)
        for word in truth.words:
            total += 1
            if seen[word.text] > 0:
                seen[word.text] -= 1
                exact += 1
    assert exact / total >= engine.min_exact, f"{exact}/{total} words exact"


def test_boxes_sit_on_the_rendered_words(results: dict[int, tuple[Receipt, OCRResult]]) -> None:
    """A recognised word's box overlaps the box the generator drew that word in."""
    matched = overlapping = 0
    for truth, result in results.values():
        for word in result.words:
            candidates = [t for t in truth.words if t.text == word.text]
            if not candidates:
                continue
            matched += 1
            cx, cy = (word.box.x0 + word.box.x1) / 2, (word.box.y0 + word.box.y1) / 2
            if any(
                t.box.x0 - 3 <= cx <= t.box.x1 + 3 and t.box.y0 - 3 <= cy <= t.box.y1 + 3
                for t in candidates
            ):
                overlapping += 1
    assert matched and overlapping / matched >= 0.95


def test_blank_image_is_no_words(engine: Engine, images: Path, tmp_path: Path) -> None:
    image = tmp_path / "blank.png"
    shutil.copy(images / "blank.png", image)
    engine.prepare(image, None)
    result = engine.engine.recognize(image)
    assert (result.width, result.height, result.words) == (400, 300, ())


def test_missing_file_fails_naming_it(engine: Engine, tmp_path: Path) -> None:
    image = tmp_path / "gone.png"
    with pytest.raises(OCRFailed, match=r"gone\.png.*no such file") as failed:
        engine.engine.recognize(image)
    assert failed.value.image_path == image


@pytest.mark.parametrize("name", ["corrupt.png", "notes.png"])
def test_corrupt_file_fails_naming_it(
    engine: Engine, images: Path, tmp_path: Path, name: str
) -> None:
    image = tmp_path / name
    shutil.copy(images / name, image)
    with pytest.raises(OCRFailed, match=re.escape(name)):
        engine.engine.recognize(image)


def test_oversized_image_is_refused_before_reading(engine: Engine, tmp_path: Path) -> None:
    image = tmp_path / "huge.png"
    # 1-bit and blank, so a 64-megapixel PNG is a few kilobytes on disk
    Image.new("1", (8000, 8000), color=1).save(image)
    with pytest.raises(OCRFailed, match=r"huge.png.*64.0 megapixels.*decompression bomb"):
        engine.engine.recognize(image)
