"""Rendering jobs, metrics and logs for people (rich) and for programs (JSON)."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.highlighter import ReprHighlighter
from rich.table import Table
from rich.text import Text

from receipts.application.ports.read_model import JobSummary
from receipts.domain.aggregate import iso
from receipts.domain.export_job import ExportJob
from receipts.domain.job import Job, JobStatus
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation

if TYPE_CHECKING:  # only for a type: importing it here would load the job catalog
    from receipts.application.insight.runs import EpochMetrics

# markup off: job names, reasons, paths and errors are user text, printed as written; style
# comes from Text and style= (`styled`), never from parsing a string
out = Console(markup=False)
err = Console(stderr=True, markup=False)
_highlight = ReprHighlighter()
PIPED_WIDTH = 100_000
"""Columns of output that is not a terminal: wide enough that nothing wraps."""


def no_wrapping_when_piped() -> None:
    """Output piped to a program or a file is not wrapped at rich's default 80 columns: a
    line stays one line (a URI stays whole, beside its label) and a table takes its
    natural width. A terminal keeps wrapping at its width."""
    for console in (out, err):
        if not console.is_terminal:
            console.soft_wrap = True
            console.width = PIPED_WIDTH


STATUS_STYLE = {
    JobStatus.PENDING: "yellow",
    JobStatus.RUNNING: "cyan",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "magenta",
    JobStatus.INTERRUPTED: "yellow",
}


def styled(*parts: str | Text | tuple[str, str]) -> Text:
    """A line to print: literal text with `(text, style)` parts styled, highlighted as print
    highlights a str (tables and panels highlight nothing: `Text.assemble` there)."""
    return _highlight(Text.assemble(*parts))


def status_text(status: JobStatus) -> Text:
    """A job's status in its colour."""
    return Text(status.value, style=STATUS_STYLE.get(status, ""))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_error(message: object) -> None:
    """`error: <message>` on stderr."""
    err.print(styled(("error:", "red"), f" {message}"))


def fail(message: object, code: int = 1) -> NoReturn:
    """`error: <message>` on stderr, then exit with `code`."""
    print_error(message)
    raise typer.Exit(code)


def tally(counts: Counter[str]) -> str:
    """`error 1, exported 2`: a worker's outcomes so far."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


FAILED_OUTCOMES = ("failed", "poison", "error")
"""A worker's outcomes that count as a failure of the message it handled."""


def handled(counts: Counter[str]) -> int:
    """A worker's last line: the messages it handled, by outcome; returns its exit code:
    1 when any of them failed (a failed job, a poison message, an unexpected error)."""
    out.print(f"handled {sum(counts.values())} message(s): {tally(counts) or 'none'}")
    return 1 if any(counts[outcome] for outcome in FAILED_OUTCOMES) else 0


def jobs_table(jobs: list[JobSummary]) -> Table:
    table = Table(title=f"{len(jobs)} job(s)")
    for column in ("name", "status", "best F1", "updated", "id"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            job.name,
            status_text(job.status),
            f"{job.best_f1:.4f}" if job.best_f1 is not None else "-",
            iso(job.updated_at)[:19],
            str(job.job_id)[:8],
        )
    return table


def evaluations_table(evaluations: list[Evaluation]) -> Table:
    table = Table(title="metrics per evaluation")
    for column in ("epoch", "step", "F1", "precision", "recall", "loss", "train loss"):
        table.add_column(column, justify="right")
    best = max(evaluations, key=lambda e: e.f1, default=None)
    for e in evaluations:
        table.add_row(*metric_cells(e, " *" if e is best else ""))
    return table


def metric_cells(e: Evaluation | EpochMetrics, mark: str) -> list[str]:
    """Epoch, step, F1 (with `mark`), precision, recall, loss and train loss of a row."""
    return [
        str(e.epoch),
        str(e.global_step),
        f"{e.f1:.4f}{mark}",
        f"{e.precision:.4f}",
        f"{e.recall:.4f}",
        score(e.loss),
        score(e.train_loss),
    ]


def job_detail(job: Job) -> dict[str, Any]:
    return {
        "job_id": str(job.id),
        "name": job.name,
        "status": job.status.value,
        "status_reason": job.status_reason,
        "description": job.draft.description,
        "priority": job.draft.priority,
        "created_by": job.draft.created_by,
        "created_at": iso(job.created_on),
        "updated_at": iso(job.modified_on),
        "tags": job.tags,
        "job_config": job.config.model_dump(mode="json"),
        "storage": job.draft.storage.model_dump(mode="json"),
        "results": job.results.model_dump(mode="json") if job.results else None,
        "resume_checkpoint_uri": job.resume_checkpoint_uri,
        "attempts": job.attempts,
    }


def export_detail(export: ExportJob) -> dict[str, Any]:
    return {
        "export_id": str(export.id),
        "status": export.status.value,
        "quantization": export.request.quantization.value,
        "checkpoint_uri": export.request.checkpoint_uri,
        "output_prefix": export.request.output_prefix,
        "bundle_uri": export.outcome.bundle_uri if export.outcome else None,
        "total_bytes": export.outcome.total_bytes if export.outcome else None,
        "error": export.error,
        "attempts": export.attempts,
    }


def logs_table(entries: list[LogEntry], limit: int = 20) -> Table:
    table = Table(title=f"logs (last {min(limit, len(entries))} of {len(entries)})")
    for column in ("time", "kind", "level", "message"):
        table.add_column(column)
    for entry in entries[-limit:]:
        table.add_row(iso(entry.timestamp)[:19], entry.kind, entry.level, entry.message)
    return table


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
