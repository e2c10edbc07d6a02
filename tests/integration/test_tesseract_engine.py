"""The tesseract adapter without tesseract: its TSV parser, its failures with fake executables."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from PIL import Image

from receipts.adapters.tesseract import TesseractEngine, parse_tsv
from receipts.application.ports.ocr_engine import OCRFailed

HEADER = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
)
TSV = "\n".join(
    [
        HEADER,
        "1\t1\t0\t0\t0\t0\t0\t0\t630\t569\t-1\t",
        "2\t1\t1\t0\t0\t0\t213\t30\t203\t112\t-1\t",
        "4\t1\t1\t1\t1\t0\t234\t30\t163\t20\t-1\t",
        "5\t1\t1\t1\t1\t1\t234\t31\t60\t19\t96.541458\tVillage",
        "5\t1\t1\t1\t1\t2\t300\t30\t56\t15\t87.5\tFoods",
        "5\t1\t1\t1\t2\t1\t10\t60\t40\t15\t-1\tskipped",
        "5\t1\t1\t1\t2\t2\t60\t60\t40\t15\t50\t   ",
        "5\t1\t2\t1\t1\t1\t600\t80\t50\t15\t100\tTOTAL",
        "5\t1\t2\t1\t1\t2\t-3\t100\t40\t15\t0\tedge",
        "",
    ]
)


def test_parses_words_lines_boxes_and_confidences() -> None:
    words = parse_tsv(TSV, width=630, height=569)
    assert [w.text for w in words] == ["Village", "Foods", "TOTAL", "edge"]
    assert [w.word_id for w in words] == [0, 1, 2, 3]
    # lines are (page, block, par, line) in order of appearance; the -1 and blank rows are gone
    assert [w.line_id for w in words] == [0, 0, 1, 1]
    assert words[0].box.as_list() == [234, 31, 294, 50]
    assert words[0].confidence == pytest.approx(0.96541458)
    assert (words[2].confidence, words[3].confidence) == (1.0, 0.0)
    # clamped to the image
    assert words[2].box.x1 == 630
    assert words[3].box.x0 == 0


def test_header_only_and_empty_output_are_no_words() -> None:
    assert parse_tsv(HEADER + "\n", 10, 10) == []
    assert parse_tsv("", 10, 10) == []


def test_row_without_text_column_is_skipped() -> None:
    assert parse_tsv(HEADER + "\n5\t1\t1\t1\t1\t1\t0\t0\t5\t5\t90", 10, 10) == []


@pytest.mark.parametrize(
    ("tsv", "problem"),
    [
        ("Error: something\n", "not tesseract TSV"),
        (HEADER + "\n5\t1\t1\t1\n", "row 2 has 4 columns"),
        (HEADER + "\n5\t1\tx\t1\t1\t1\t0\t0\t5\t5\t90\tword\n", "row 2"),
    ],
)
def test_malformed_tsv_names_the_row(tsv: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_tsv(tsv, 10, 10)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "receipt.png"
    Image.new("L", (60, 40), color=255).save(path)
    return path


def _fake(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-tesseract"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_missing_executable_says_how_to_install(image: Path) -> None:
    engine = TesseractEngine(executable="no-such-tesseract-here")
    with pytest.raises(OCRFailed, match=r"receipt.png.*not found.*apt-get install tesseract-ocr"):
        engine.recognize(image)


def test_passes_language_and_psm(image: Path, tmp_path: Path) -> None:
    args = tmp_path / "args"
    fake = _fake(tmp_path, f'echo "$@" > {args}\nprintf "{HEADER}\\n"')
    result = TesseractEngine(lang="deu", psm=6, executable=fake).recognize(image)
    assert (result.width, result.height, result.words) == (60, 40, ())
    assert args.read_text().split() == [str(image), "stdout", "-l", "deu", "--psm", "6", "tsv"]


def test_nonzero_exit_carries_stderr_and_language_hint(image: Path, tmp_path: Path) -> None:
    fake = _fake(tmp_path, "echo \"Failed loading language 'xyz'\" >&2\nexit 1")
    with pytest.raises(OCRFailed, match=r"exited with 1.*Failed loading.*tesseract-ocr-xyz"):
        TesseractEngine(lang="xyz", executable=fake).recognize(image)


def test_garbage_output_is_ocr_failed(image: Path, tmp_path: Path) -> None:
    fake = _fake(tmp_path, 'echo "hello"')
    with pytest.raises(OCRFailed, match="unreadable tesseract output"):
        TesseractEngine(executable=fake).recognize(image)


def test_timeout(image: Path, tmp_path: Path) -> None:
    fake = _fake(tmp_path, "exec sleep 5")
    with pytest.raises(OCRFailed, match=r"receipt.png.*timed out after 0.3 s"):
        TesseractEngine(executable=fake, timeout_s=0.3).recognize(image)


def test_pixel_limit_is_configurable_and_checked_first(image: Path) -> None:
    engine = TesseractEngine(executable="no-such-tesseract-here", max_pixels=1000)
    with pytest.raises(OCRFailed, match=r"60x40.*over the limit"):
        engine.recognize(image)


def test_other_formats_are_converted_for_tesseract(tmp_path: Path) -> None:
    source = tmp_path / "receipt.webp"
    try:
        Image.new("RGB", (30, 20), color=(255, 255, 255)).save(source)
    except (OSError, KeyError):
        pytest.skip("this Pillow cannot write WebP")
    seen = tmp_path / "seen"
    fake = _fake(tmp_path, f'echo "$1" > {seen}\nprintf "{HEADER}\\n"')
    result = TesseractEngine(executable=fake).recognize(source)
    assert (result.width, result.height) == (30, 20)
    assert seen.read_text().strip().endswith("image.png")


@pytest.mark.parametrize(
    ("kwargs", "problem"), [({"psm": 14}, "psm"), ({"timeout_s": 0}, "timeout_s")]
)
def test_bad_settings(kwargs: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TesseractEngine(**kwargs)  # type: ignore[arg-type]
