"""A run report as one static HTML page with PNG plots beside it (`index.html` in a folder).

No scripts and nothing fetched: the page opens from disk, offline, in any browser."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from pathlib import Path

from receipts.adapters.plots import run_plots
from receipts.application.insight.comparison import flatten_config
from receipts.application.insight.run_report import RunReport
from receipts.domain.aggregate import iso

PAGE = "index.html"
STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
  margin: 0; background: #f5f6f8; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; border-bottom: 1px solid #d8dce3; padding-bottom: 4px; }
.sub { color: #5b6575; margin: 0 0 16px; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 10px; font-size: 13px;
  font-weight: 600; vertical-align: middle; color: white; background: #6b7280; }
.badge.succeeded { background: #15803d; } .badge.running { background: #0e7490; }
.badge.failed { background: #b91c1c; } .badge.pending, .badge.interrupted { background: #b45309; }
.badge.cancelled { background: #7e22ce; } .badge.queued { background: #b45309; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.card { background: white; border: 1px solid #d8dce3; border-radius: 8px; padding: 10px 14px; }
.card .value { font-size: 22px; font-weight: 650; }
.card .label { color: #5b6575; font-size: 13px; }
.notes { background: #fff8e6; border: 1px solid #f0d48a; border-radius: 8px; padding: 8px 16px; }
figure { margin: 12px 0; background: white; border: 1px solid #d8dce3; border-radius: 8px;
  padding: 10px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: #5b6575; font-size: 13px; margin-top: 6px; }
table { border-collapse: collapse; background: white; font-size: 14px; margin: 8px 0; }
th, td { border: 1px solid #d8dce3; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #eef0f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #eaf6ee; font-weight: 600; }
code { font-size: 13px; word-break: break-all; }
.empty { color: #5b6575; font-style: italic; }
"""


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
    title = f"Run report: {run.job_name}"
    body = [
        f"<h1>{escape(run.job_name)} <span class='badge {run.status.value}'>"
        f"{escape(run.status.value)}</span></h1>",
        f"<p class='sub'>job <code>{run.job_id}</code> · created {_time(run.created_at)}"
        f" by {escape(report.created_by or 'unknown')}"
        + (f" · {escape(run.status_reason)}" if run.status_reason else "")
        + "</p>",
    ]
    if report.description:
        body.append(f"<p>{escape(report.description)}</p>")
    body.append(_cards(report))
    if report.notes:
        body.append(
            "<div class='notes'><ul>"
            + "".join(f"<li>{escape(n)}</li>" for n in report.notes)
            + "</ul></div>"
        )
    body.append("<h2>Training curves</h2>")
    body.append(_figure(figures.get("curves"), "Loss, F1, precision and recall per epoch"))
    body.append(_epochs_table(report))
    body.append("<h2>Per-label scores</h2>")
    body.append(_figure(figures.get("labels"), "Entity-level scores per label at the best epoch"))
    body.append(_labels_table(report))
    body.append("<h2>Confusion matrix</h2>")
    body.append(
        _figure(
            figures.get("confusion"),
            "Validation words by true label (rows) and predicted label (columns) at the best"
            " epoch; BIO prefixes dropped",
        )
    )
    body.append("<h2>Data set</h2>")
    body.append(_dataset(report))
    body.append(_figure(figures.get("distribution"), "Words (or entities) per label"))
    body.append("<h2>Configuration</h2>")
    body.append(_config_table(report))
    body.append("<h2>Timings</h2>")
    body.append(_timings(report))
    body.append("<h2>Export bundles</h2>")
    body.append(_exports(report))
    body.append("<h2>Log</h2>")
    body.append(_logs(report))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' href='data:,'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _cards(report: RunReport) -> str:
    run = report.run
    best = next((e for e in run.epochs if e.epoch == run.best_epoch), None)
    planned = run.config.hyperparameters.epochs if run.config else None
    results = report.results
    wall = report.timings.wall_seconds
    cards = [
        ("best F1", _score(run.best_f1), f"epoch {run.best_epoch}" if best else "no metrics"),
        ("precision", _score(best.precision if best else None), "at the best epoch"),
        ("recall", _score(best.recall if best else None), "at the best epoch"),
        (
            "epochs",
            f"{len(run.epochs)}" + (f" / {planned}" if planned else ""),
            "stopped early" if results and results.stopped_early else "evaluated / planned",
        ),
        ("duration", _seconds(wall), "started → ended"),
    ]
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='label'>{escape(label)}</div>"
            f"<div class='value'>{escape(value)}</div>"
            f"<div class='label'>{escape(note)}</div></div>"
            for label, value, note in cards
        )
        + "</div>"
    )


def _figure(name: str | None, caption: str) -> str:
    if name is None:
        return "<p class='empty'>nothing to plot yet</p>"
    return (
        f"<figure><img src='{escape(name)}' alt='{escape(caption)}'>"
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: int = 0,
    highlight: int | None = None,
) -> str:
    """`numeric`: how many trailing columns are numbers (right-aligned); `highlight`: the
    index of the row marked best."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    lines = []
    for index, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            css = " class='num'" if i >= len(headers) - numeric else ""
            cells.append(f"<td{css}>{cell}</td>")
        css = " class='best'" if index == highlight else ""
        lines.append(f"<tr{css}>{''.join(cells)}</tr>")
    if not lines:
        return "<p class='empty'>none</p>"
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table>{thead}<tbody>{''.join(lines)}</tbody></table>"


def _epochs_table(report: RunReport) -> str:
    run = report.run
    rows = []
    seconds = report.timings.epoch_seconds
    for index, e in enumerate(run.epochs):
        took = seconds[index] if index < len(seconds) else None
        row = [
            str(e.epoch),
            str(e.global_step),
            _score(e.f1),
            _score(e.precision),
            _score(e.recall),
            _score(e.loss),
            _score(e.train_loss),
            "-" if e.learning_rate is None else f"{e.learning_rate:.2e}",
            _seconds(took),
        ]
        rows.append(row)
    best = next((i for i, e in enumerate(run.epochs) if e.epoch == run.best_epoch), None)
    return _table(
        ["epoch", "step", "F1", "precision", "recall", "val loss", "train loss", "lr", "time"],
        rows,
        numeric=9,
        highlight=best,
    )


def _labels_table(report: RunReport) -> str:
    rows = [
        [escape(label), _score(s.precision), _score(s.recall), _score(s.f1), str(s.support)]
        for label, s in sorted(report.best_epoch_per_label.items(), key=lambda kv: -kv[1].f1)
    ]
    return _table(["label", "precision", "recall", "F1", "support"], rows, numeric=4)


def _dataset(report: RunReport) -> str:
    d = report.dataset
    if d is None:
        return "<p class='empty'>no dataset lineage recorded</p>"
    rows = [
        ["source", f"<code>{escape(d.source)}</code>"],
        ["content hash", f"<code>{escape(d.content_hash)}</code>"],
        ["receipts", f"{d.receipts:,}"],
        ["words", f"{d.words:,}"],
        ["train / validation receipts", f"{d.train_receipts:,} / {d.validation_receipts:,}"],
    ]
    return _table(["", ""], rows)


def _config_table(report: RunReport) -> str:
    flat = flatten_config(report.run.config)
    if not flat:
        return "<p class='empty'>no config recorded</p>"
    rows = [[f"<code>{escape(k)}</code>", escape(_value(v))] for k, v in flat.items()]
    rows += [[f"<code>tags.{escape(k)}</code>", escape(v)] for k, v in report.tags.items()]
    return _table(["key", "value"], rows)


def _timings(report: RunReport) -> str:
    t = report.timings
    rows = [
        ["created", _time(t.created_at)],
        ["started", _time(t.started_at)],
        ["ended", _time(t.ended_at)],
        ["waited before starting", _seconds(t.queued_seconds)],
        ["started → ended", _seconds(t.wall_seconds)],
        ["attempts", str(t.attempts)],
    ]
    if report.results is not None:
        train = report.results.extra.get("train_seconds")
        if isinstance(train, int | float):
            rows.append(["training loop (trainer)", _seconds(float(train))])
    known = [s for s in t.epoch_seconds if s is not None]
    if known:
        rows.append(["mean epoch (train + evaluate)", _seconds(sum(known) / len(known))])
    return _table(["", ""], rows)


def _exports(report: RunReport) -> str:
    rows = [
        [
            f"<code>{e.export_id}</code>",
            f"<span class='badge {escape(e.status.value)}'>{escape(e.status.value)}</span>",
            escape(e.quantization.value),
            f"<code>{escape(e.bundle_uri or '-')}</code>",
            escape(e.error or ""),
            "-" if e.total_bytes is None else f"{e.total_bytes:,} B",
        ]
        for e in report.exports
    ]
    return _table(["export", "status", "quantization", "bundle", "error", "size"], rows, numeric=1)


def _logs(report: RunReport) -> str:
    rows = [
        [_time(e.timestamp), escape(e.kind), escape(e.level), escape(e.message)]
        for e in report.logs
    ]
    return _table(["time", "kind", "level", "message"], rows)


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
