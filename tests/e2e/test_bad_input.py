"""Bad input through the command line: every case exits 1 (refused) or 2 (bad usage or
settings) with a message naming the problem, never a traceback; `train` records no job.

In this process through the CLI's `main` (fast: nothing here loads torch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.e2e.cli import no_traceback, run


def word(text: str = "Mart", label: str = "MERCHANT_NAME") -> dict[str, object]:
    return {"text": text, "box": [10, 10, 50, 30], "line_id": 0, "label": label}


def receipt(receipt_id: str, words: list[dict[str, object]] | None = None) -> str:
    record = {"receipt_id": receipt_id, "width": 100, "height": 100}
    if words is not None:
        record["words"] = words
    return json.dumps(record) + "\n"


def inputs(folder: Path) -> dict[str, str]:
    """The bad inputs the cases name as {placeholders}."""
    folder.mkdir()
    files = {
        "file": b"just a file\n",
        "nonutf8": b"\xff\xfe not UTF-8\n",
        "malformed": b'{"receipt_id": "a", "words": [\n',
        "nowords": receipt("a").encode(),
        "wordy": receipt("a", [word()] * 5).encode(),
        "longline": receipt("a", [word("x" * 300)]).encode(),
        "image": b"%PDF-1.4 not an image",
    }
    paths = {name: folder / name for name in files}
    for name, data in files.items():
        paths[name].write_bytes(data)
    corrupt = folder / "corrupt-home" / "events"
    corrupt.mkdir(parents=True)
    for name in ("jobs", "exports", "ocrjobs", "queuedispatcher"):
        (corrupt / f"{name}.sqlite").write_bytes(b"not a database")
    return {
        **{name: str(path) for name, path in paths.items()},
        "dir": str(folder),
        "missing": str(folder / "missing.jsonl"),
        "corrupt_home": str(corrupt.parent),
    }


# (arguments, environment, exit code, what the message must say)
CASES: list[tuple[str, dict[str, str], int, str]] = [
    ("--home {file} jobs list", {}, 2, "is a file; the home is a directory"),
    ("--home {file}/sub jobs list", {}, 1, "Not a directory: {file}/sub"),
    ("--home {corrupt_home} jobs list", {}, 1, "SQLite file of the local store cannot be read"),
    ("--mode bogus jobs list", {}, 2, "'bogus' is not one of"),
    ("jobs list", {"RECEIPTS_VISIBILITY_TIMEOUT": "-1"}, 2, "RECEIPTS_VISIBILITY_TIMEOUT"),
    ("jobs list", {"RECEIPTS_MAX_RECEIPT_WORDS": "0"}, 2, "RECEIPTS_MAX_RECEIPT_WORDS"),
    ("jobs list", {"RECEIPTS_MAX_ARCHIVE_RATIO": "lots"}, 2, "RECEIPTS_MAX_ARCHIVE_RATIO"),
    ("jobs list --status bogus", {}, 2, "'bogus' is not one of"),
    ("jobs show no-such-job", {}, 1, "job not found: no-such-job"),
    ("jobs cancel 00000000-0000-0000-0000-000000000000", {}, 1, "job not found"),
    ("train --dataset {missing}", {}, 1, "{missing}: no such file"),
    ("train --dataset {dir}", {}, 1, "{dir}: not a file"),
    ("train --dataset {nonutf8}", {}, 1, "line 1: not UTF-8"),
    ("train --dataset {malformed}", {}, 1, "line 1: not JSON"),
    ("train --dataset {nowords}", {}, 1, "line 1: receipt a: no words"),
    ("train --dataset {wordy}", {"RECEIPTS_MAX_RECEIPT_WORDS": "4"}, 1, "over the limit of 4"),
    (
        "train --dataset {longline}",
        {"RECEIPTS_MAX_JSONL_LINE_BYTES": "200"},
        1,
        "line 1: longer than 200 bytes",
    ),
    ("train --dataset-snapshot-load {nonutf8}", {}, 1, "{nonutf8}: not a snapshot"),
    ("train --dynamo-table Receipts", {}, 1, "needs aws mode"),
    ("train", {}, 1, "no data: give --dataset PATH"),
    ("train --dataset {missing} --epochs -1", {}, 1, "epochs: Input should be greater"),
    ("train --dataset {missing} --tag novalue", {}, 1, "'novalue': expected KEY=VALUE"),
    ("train --resume no-such-job", {}, 1, "job not found: no-such-job"),
    ("train --dataset {missing} --lr abc", {}, 2, "Invalid value for '--lr'"),
    ("synthesize --output {dir}", {}, 2, "{dir} is a directory"),
    ("synthesize --output {file}/x.jsonl", {}, 1, "File exists and is not a directory: {file}"),
    ("synthesize --output {dir}/s.jsonl --count -1", {}, 2, "--count"),
    ("evaluate --checkpoint {missing} --dataset {nonutf8}", {}, 1, "{missing}"),
    ("dataset-stats --dataset {nonutf8}", {}, 1, "line 1: not UTF-8"),
    ("dataset-stats --dataset {dir}", {}, 1, "not a file"),
    ("dataset-stats --dataset {malformed} --o-entity-ratio -3", {}, 1, "o_entity_ratio"),
    ("inference-report --dataset {malformed} --receipt a", {}, 1, "line 1: not JSON"),
    ("ocr-submit {missing}", {}, 1, "{missing}: no such file"),
    ("ocr-submit {dir}", {}, 1, "not a regular file"),
    ("ocr-submit {image}", {}, 1, "not an image Pillow can read"),
    ("ocr-jobs not-a-uuid", {}, 2, "'not-a-uuid' is not an OCR job id"),
    ("ocr-jobs --status bogus", {}, 2, "'bogus' is not one of"),
    ("review ocr-x --status BOGUS", {}, 2, "'BOGUS' is not one of"),
    ("export-worker --once --exporter bogus", {}, 2, "unknown exporter 'bogus'"),
    ("export-worker --once --visibility-timeout -5", {}, 2, "--visibility-timeout"),
    ("simulate --jobs -1", {}, 2, "--jobs"),
    ("monitor --interval -1", {}, 2, "--interval"),
    ("compare no-such-job other", {}, 1, "job not found: no-such-job"),
    ("report no-such-job", {}, 1, "job not found: no-such-job"),
]


@pytest.mark.parametrize(
    ("args", "env", "code", "says"), CASES, ids=[" ".join(c[0].split()[:3]) for c in CASES]
)
def test_bad_input_exits_1_or_2_naming_the_problem(
    tmp_path: Path, args: str, env: dict[str, str], code: int, says: str
) -> None:
    paths = inputs(tmp_path / "in")
    home = tmp_path / "home"

    result = run(home, *(part.format(**paths) for part in args.split()), **env)

    no_traceback(result)
    assert result.returncode == code, result.said
    assert " ".join(says.format(**paths).split()) in result.said
    if args.startswith("train"):  # refused before a job is recorded
        assert run(home, "jobs", "list", "--json").json() == []
