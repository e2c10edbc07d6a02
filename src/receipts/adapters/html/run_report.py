"""A run report as one static HTML page with PNG plots beside it (`index.html` in a folder).

No scripts and nothing fetched: the page opens from disk, offline, in any browser."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from receipts.adapters.html import PAGES
from receipts.adapters.plots import run_plots
from receipts.application.insight.comparison import flatten_config
from receipts.application.insight.run_report import RunReport
from receipts.domain.aggregate import iso

PAGE = "index.html"


def write_run_report(report: RunReport, output: Path) -> Path:
    """Writes `index.html` and its plots into `output`; returns the page's path."""
    output.mkdir(parents=True, exist_ok=True)
    run = report.run
    figures = {
        "curves": run_plots.training_curves(
            run.epochs, output / "training-curves.png", run.best_epoch
        ),
        "labels": run_plots.label_scores(report.best_epoch_per_label, output / "label-scores.png"),
        "confusion": run_plots.confusion_matrix(
            report.confusion_labels, report.confusion, output / "confusion-matrix.png"
        ),
        "distribution": _distribution_plot(report, output / "label-distribution.png"),
    }
    page = output / PAGE
    page.write_text(render(report, {k: v.name for k, v in figures.items() if v}), "utf-8")
    return page


def _distribution_plot(report: RunReport, path: Path) -> Path | None:
    if report.dataset and report.dataset.label_counts:
        return run_plots.label_distribution(
            report.dataset.label_counts, "words per trained label in the data set (VALID)", path
        )
    supports = {k: v.support for k, v in report.best_epoch_per_label.items()}
    return run_plots.label_distribution(
        supports, "entities per label in the validation split", path
    )


def render(report: RunReport, figures: dict[str, str]) -> str:
    """The page; `figures` maps a plot's role to its file name beside the page."""
    run = report.run
    flat = flatten_config(run.config)
    seconds = report.timings.epoch_seconds
    config = [(k, _value(v)) for k, v in flat.items()] + [
        (f"tags.{k}", v) for k, v in report.tags.items()
    ]
    return PAGES.get_template("run_report.html").render(
        title=f"Run report: {run.job_name}",
        report=report,
        figures=figures,
        best=next((e for e in run.epochs if e.epoch == run.best_epoch), None),
        epochs=[(e, seconds[i] if i < len(seconds) else None) for i, e in enumerate(run.epochs)],
        config=config if flat else [],
        score=_score,
        seconds=_seconds,
        time=_time,
    )


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def _time(value: object) -> str:
    return iso(value)[:19].replace("T", " ") + " UTC" if isinstance(value, datetime) else "-"


def _value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return "-" if value is None else str(value)
