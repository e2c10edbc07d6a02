"""Text a user typed (names, reasons, paths, errors) is printed as written: rich markup in it
is never read as markup, so it neither crashes a command nor vanishes from its output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.cli import Result, run
from tests.integration.insight.recorded import evaluation, record_run

from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.job import JobDraft
from receipts.domain.job_log import LogEntry
from receipts.settings import Settings

# a closing tag with nothing to close, a real style, an unknown style, a NaN box's repr
PIECES = ("[/]", "[bold]x[/bold]", "[wip]", "[nan, 1]")
HOSTILE = " ".join(PIECES)
IMAGE = "[wip] [nan, 1] [bold]x.png"


def shows_literally(result: Result) -> None:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for piece in PIECES:
        assert piece in result.said, (piece, result.said[-2000:])


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """Jobs, logs, an OCR job and a data set whose every user-set field carries markup."""
    home = tmp_path / "home"
    runtime = bootstrap(Settings(mode="local", home=home))
    try:
        _record(runtime)
    finally:
        runtime.close()
    return home


def _record(runtime: Runtime) -> None:
    jobs = runtime.jobs
    failed = jobs.create_job(
        JobDraft(
            name="hostile",
            description=HOSTILE,
            created_by=HOSTILE,
            tags={"note": HOSTILE},
            config={"hyperparameters": {"epochs": 2}},
        )
    )
    jobs.start_job(failed)
    jobs.record_evaluation(failed, evaluation(1, 0.5))
    jobs.append_log(failed, LogEntry(message=HOSTILE))
    jobs.fail_job(failed, f"box error {HOSTILE}")
    record_run(runtime, "plain", [0.4, 0.6], config={"hyperparameters": {"epochs": 3}})
    jobs.create_job(JobDraft(name="to-cancel", config={"hyperparameters": {"epochs": 1}}))
    ocr = runtime.ocr_jobs
    image = runtime.artifacts_uri(f"raw-receipts/{IMAGE}")
    ocr_job = ocr.submit(image, submitted_by=HOSTILE)
    ocr.start(ocr_job, "worker")
    ocr.fail(ocr_job, HOSTILE)


def test_markup_in_user_text_is_printed_literally(home: Path, tmp_path: Path) -> None:
    cancelled = run(home, "jobs", "cancel", "to-cancel", "--reason", HOSTILE)
    assert cancelled.returncode == 0, cancelled.stderr
    shows_literally(run(home, "jobs", "show", "to-cancel"))
    shows_literally(run(home, "jobs", "show", "hostile"))  # created_by, tags, reason, logs
    assert run(home, "jobs", "list").returncode == 0  # shows names, which cannot hold markup
    shows_literally(ocr_jobs := run(home, "ocr-jobs"))  # the error
    assert IMAGE in ocr_jobs.said
    shows_literally(run(home, "monitor", "hostile"))
    shows_literally(run(home, "monitor", "to-cancel"))
    assert run(home, "history").returncode == 0
    assert run(home, "compare", "hostile", "plain").returncode == 0
    folder = tmp_path / "[wip] [nan, 1] [bold]x[" / "bold] [" / "]"
    shows_literally(run(home, "report", "hostile", "--output", str(folder)))
    dataset = folder / "data.jsonl"
    dataset.write_text("".join(json.dumps(to_record(r)) + "\n" for r in generate_receipts(20)))
    shows_literally(run(home, "dataset-stats", "--dataset", str(dataset)))


@pytest.mark.parametrize("command", ["jobs show", "jobs cancel", "monitor", "report"])
def test_markup_in_an_unknown_job_is_named_literally(tmp_path: Path, command: str) -> None:
    result = run(tmp_path, *command.split(), HOSTILE)

    assert result.returncode == 1, result.stderr
    assert f"error: job not found: {HOSTILE}" in result.said
