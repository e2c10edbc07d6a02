"""The stub OCR engine's sidecar format: where it is looked for, and validation naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from receipts.adapters.stub_ocr import SidecarOCREngine, parse_sidecar, sidecar_paths
from receipts.application.ports.ocr_engine import OCRFailed


def _doc(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "width": 100,
        "height": 50,
        "words": [
            {"text": "TOTAL", "box": [5, 5, 40, 15], "confidence": 0.9, "line_id": 0},
            {"text": "9.99", "box": [60, 5.5, 90, 15]},
            {"text": "VISA", "box": [5, 20, 40, 30], "line_id": 2},
        ],
    }
    document.update(changes)
    return document


def test_parses_defaults_and_line_ids() -> None:
    result = parse_sidecar(json.dumps(_doc()))
    assert (result.width, result.height) == (100, 50)
    assert [(w.word_id, w.line_id, w.text, w.confidence) for w in result.words] == [
        (0, 0, "TOTAL", 0.9),
        (1, 0, "9.99", 1.0),
        (2, 2, "VISA", 1.0),
    ]
    assert result.words[1].box.as_list() == [60, 5.5, 90, 15]
    assert result.text == "TOTAL 9.99\nVISA"


def _word(**changes: Any) -> dict[str, Any]:
    return {"text": "X", "box": [1, 1, 2, 2], **changes}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (_doc(width=0), "width: Input should be greater than 0"),
        (_doc(height="50"), "height: Input should be a valid integer"),
        (_doc(words=None), "words: Input should be a valid array"),
        (_doc(dpi=300), "dpi: Extra inputs are not permitted"),
        (_doc(words=[_word(text="")]), r"words\[0\].text: String should have at least 1"),
        (_doc(words=[_word(), _word(box=[1, 2, 3])]), r"words\[1\].box\[3\]: Field required"),
        (_doc(words=[_word(box=[5, 1, 2, 2])]), r"words\[0\].box: .*inverted box"),
        (_doc(words=[_word(box=[1, 1, 101, 2])]), r"words\[0\].box: .*outside the 100x50 image"),
        (_doc(words=[_word(box=[-1, 1, 2, 2])]), r"words\[0\].box: .*outside"),
        (_doc(words=[_word(confidence=1.5)]), r"words\[0\].confidence: .*less than or equal to 1"),
        (_doc(words=[_word(line_id=-1)]), r"words\[0\].line_id: .*greater than or equal to 0"),
        (_doc(words=[_word(line_id=2), _word(line_id=1)]), r"words\[1\].line_id: 1 after line 2"),
        (_doc(words=[_word(label="TOTAL")]), r"words\[0\].label: Extra inputs"),
        ([], r"\(document\): Input should be an object"),
    ],
)
def test_validation_names_the_bad_field(document: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_sidecar(json.dumps(document))


def test_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="Invalid JSON"):
        parse_sidecar("{width: 3")


def test_sidecar_paths() -> None:
    assert sidecar_paths(Path("/x/receipt.png")) == (
        Path("/x/receipt.png.ocr.json"),
        Path("/x/receipt.json"),
    )


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "receipt.png"
    Image.new("L", (100, 50), color=255).save(path)
    return path


def test_reads_either_sidecar_and_prefers_ocr_json(image: Path) -> None:
    engine = SidecarOCREngine()
    image.with_suffix(".json").write_text(json.dumps(_doc(words=[])))
    assert engine.recognize(image).words == ()
    image.with_name("receipt.png.ocr.json").write_text(json.dumps(_doc()))
    assert len(engine.recognize(image).words) == 3


def test_missing_sidecar_names_both_places(image: Path) -> None:
    with pytest.raises(OCRFailed, match=r"receipt.png.*receipt.png.ocr.json or receipt.json"):
        SidecarOCREngine().recognize(image)


def test_invalid_sidecar_names_file_and_field(image: Path) -> None:
    image.with_suffix(".json").write_text(json.dumps(_doc(words=[_word(text="")])))
    with pytest.raises(OCRFailed, match=r"receipt.png.*sidecar receipt.json: words\[0\].text"):
        SidecarOCREngine().recognize(image)


def test_size_must_match_the_image(image: Path) -> None:
    image.with_suffix(".json").write_text(json.dumps(_doc(width=120)))
    with pytest.raises(OCRFailed, match="120x50 but the image is 100x50"):
        SidecarOCREngine().recognize(image)
