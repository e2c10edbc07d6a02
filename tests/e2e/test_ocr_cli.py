"""`receipts ocr`, `ocr-submit`, `ocr-worker`, `ocr-jobs` and `review` as a user runs them:
fresh processes on the embedded default, real Tesseract on rendered receipts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.e2e.cli import Result, no_traceback
from tests.e2e.cli import run as run_cli
from tests.ml.ocr.conftest import write_receipt_image

pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract missing")

FAST = {"OMP_NUM_THREADS": "1"}


def run(home: Path, *args: str) -> Result:
    result = run_cli(home, *args, **FAST)
    no_traceback(result)
    return result


def test_one_local_image_is_read_with_tesseract_into_fields_and_a_routing(
    tiny_model: Path, tmp_path: Path
) -> None:
    image = write_receipt_image(tmp_path, 10, with_sidecar=False)
    out = tmp_path / "out"

    result = run(
        tmp_path / "home",
        "ocr",
        "--image",
        str(image),
        "--model",
        str(tiny_model),
        "--output-dir",
        str(out),
    )

    assert result.returncode == 0, result.said
    labels = json.loads((out / "labels.json").read_text())
    ocr = json.loads((out / "ocr.json").read_text())
    assert ocr["engine"] == "tesseract" and len(ocr["words"]) > 15
    assert len(labels["words"]) == len(ocr["words"])
    assert labels["routing"]["decision"] in ("auto_accept", "needs_review")
    assert "routing:" in result.said and "company" in result.said
    # the seeds' flag names work too, and a non-image is refused naming it
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    refused = run(
        tmp_path / "home",
        "ocr",
        "--process-local-image",
        str(bad),
        "--layoutlm-model",
        str(tiny_model),
    )
    assert refused.returncode == 1 and "bad.png" in refused.said and "not an image" in refused.said


def test_submitted_images_are_processed_by_the_worker_and_reviewable(
    tiny_model: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    images = [write_receipt_image(tmp_path, i, with_sidecar=False) for i in (11, 12)]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")

    refused = run(home, "ocr-submit", str(images[0]), str(bad))
    assert refused.returncode == 1 and "bad.jpg" in refused.said
    assert "nothing was submitted" in refused.said
    submitted = run(home, "ocr-submit", *map(str, images))
    assert submitted.returncode == 0, submitted.said
    worker = run(home, "ocr-worker", "--continuous", "--model", str(tiny_model))
    assert worker.returncode == 0, worker.said
    assert "handled 2 message(s): completed 2" in worker.said

    jobs = run(home, "ocr-jobs", "--json").json()
    assert [j["status"] for j in jobs] == ["completed", "completed"]
    assert all(j["word_count"] > 15 and j["routing"] for j in jobs)
    detail = run(home, "ocr-jobs", jobs[0]["ocr_job_id"]).json()
    receipt_id = detail["outcome"]["receipt_id"]
    assert detail["outcome"]["fields"] and detail["outcome"]["result_uris"]["labels"]
    reviewed = run(home, "review", receipt_id, "--status", "VALID")
    assert reviewed.returncode == 0 and "set to VALID" in reviewed.said
    records = [json.loads(line) for line in (home / "labels" / "ocr-receipts.jsonl").open()]
    record = next(r for r in records if r["receipt_id"] == receipt_id)
    statuses = {w.get("validation_status", "VALID") for w in record["words"] if w["label"] != "O"}
    assert statuses == {"VALID"}
    unknown = run(home, "review", "ocr-nope", "--status", "INVALID")
    assert unknown.returncode == 1 and "ocr-nope" in unknown.said


def test_the_worker_exits_1_when_a_job_it_handled_failed(tiny_model: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = write_receipt_image(tmp_path, 13)  # with its sidecar: the stub engine reads it
    bare = write_receipt_image(tmp_path, 14, with_sidecar=False)  # no words to stub
    for image in (bare, good):
        submitted = run(home, "ocr-submit", str(image), "--engine", "stub")
        assert submitted.returncode == 0, submitted.said

    once = run(home, "ocr-worker", "--once", "--batch", "1", "--model", str(tiny_model))
    assert once.returncode == 1, once.said
    assert "handled 1 message(s): failed 1" in once.said
    drained = run(home, "ocr-worker", "--continuous", "--model", str(tiny_model))
    assert drained.returncode == 0, drained.said
    assert "handled 1 message(s): completed 1" in drained.said
    jobs = run(home, "ocr-jobs", "--json").json()
    assert sorted(j["status"] for j in jobs) == ["completed", "failed"]
