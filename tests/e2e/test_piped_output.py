"""Output piped to a program or a file is not wrapped at 80 columns: a URI or a long name
stays whole on its label's line, and table rows stay one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.cli import run

from receipts.bootstrap import bootstrap
from receipts.domain.job import JobDraft
from receipts.entrypoints import console
from receipts.settings import Settings

LONG_NAME = "receipts-2025-11-30-1405-agent-optimized-" + "x" * 70


@pytest.fixture(autouse=True)
def rich_default_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """What rich gives output that is not a terminal (the tests' COLUMNS=200 aside)."""
    for printer in (console.out, console.err):
        monkeypatch.setattr(printer, "width", 80)


def _job(home: Path) -> str:
    runtime = bootstrap(Settings(mode="local", home=home))
    try:
        return str(runtime.jobs.create_job(JobDraft(name=LONG_NAME)))
    finally:
        runtime.close()


def test_a_long_line_is_not_wrapped_when_piped(tmp_path: Path) -> None:
    job_id = _job(tmp_path)

    done = run(tmp_path, "jobs", "cancel", LONG_NAME)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"cancelled {LONG_NAME} ({job_id})\n"


def test_table_rows_are_one_line_each_when_piped(tmp_path: Path) -> None:
    _job(tmp_path)

    done = run(tmp_path, "jobs", "list")

    assert done.returncode == 0, done.stderr
    [row] = [line for line in done.stdout.splitlines() if "pending" in line]
    assert LONG_NAME in row
