"""Rich tables and panels of insight: history, dataset stats, the monitor and comparisons."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from receipts.application.insight.comparison import RunComparison
from receipts.application.insight.dataset_stats import Balance, DatasetInsight
from receipts.application.insight.history import RunHistory
from receipts.application.insight.monitor import MonitorSnapshot
from receipts.application.insight.runs import EpochMetrics, RunRecord
from receipts.domain.aggregate import iso
from receipts.entrypoints.console import logs_table, metric_cells, score, status_text, styled


def _lines(lines: list[str | Text]) -> Text:
    """A panel's body, one line each, never read as markup."""
    return Text("\n").join(Text.assemble(line) for line in lines)


def _config_line(run: RunRecord) -> str:
    if run.config is None:
        return "-"
    hp, data = run.config.hyperparameters, run.config.data
    parts = [f"lr={hp.learning_rate:g}", f"batch={hp.batch_size}", f"epochs={hp.epochs}"]
    if hp.o_entity_ratio is not None:
        parts.append(f"o:entity={hp.o_entity_ratio:g}")
    if data.preset_names:
        parts.append("merge=" + ",".join(data.preset_names))
    if data.allowed_labels:
        parts.append(f"labels={len(data.allowed_labels)}")
    return " ".join(parts)


def history_table(history: RunHistory) -> Table:
    what = f"{history.status.value} runs" if history.status else "runs"
    table = Table(
        title=f"{history.total_runs} {what}, best first ({history.runs_with_metrics} with metrics)"
    )
    for column in ("#", "name", "status", "best F1", "epoch", "F1 per epoch", "config", "created"):
        table.add_column(column, overflow="fold")
    for rank, run in enumerate(history.runs, start=1):
        table.add_row(
            str(rank),
            run.job_name,
            status_text(run.status),
            score(run.best_f1),
            "-" if run.best_epoch is None else str(run.best_epoch),
            " ".join(f"{e.f1:.3f}" for e in run.epochs) or "-",
            _config_line(run),
            iso(run.created_at)[:19],
        )
    return table


def epochs_table(epochs: list[EpochMetrics], best_epoch: int | None, title: str) -> Table:
    table = Table(title=title)
    for column in (
        "epoch",
        "step",
        "F1",
        "precision",
        "recall",
        "val loss",
        "train loss",
        "elapsed s",
    ):
        table.add_column(column, justify="right")
    for e in epochs:
        elapsed = "-" if e.elapsed_seconds is None else f"{e.elapsed_seconds:.0f}"
        table.add_row(*metric_cells(e, " *" if e.epoch == best_epoch else ""), elapsed)
    return table


def monitor_view(snapshot: MonitorSnapshot, follow: bool = False) -> RenderableType:
    run = snapshot.run
    latest = snapshot.latest
    planned = f" of {snapshot.planned_epochs}" if snapshot.planned_epochs else ""
    lines: list[str | Text] = [
        Text.assemble((run.job_name, "bold"), f"  {run.job_id}"),
        Text.assemble(
            "status: ",
            status_text(run.status),
            f" ({run.status_reason})" if run.status_reason else "",
        ),
        f"epoch: {latest.epoch if latest else '-'}{planned}",
    ]
    if latest is None:
        lines.append(Text("no metrics recorded yet", style="yellow"))
    else:
        lines.append(
            f"latest: F1 {latest.f1:.4f}  precision {latest.precision:.4f}"
            f"  recall {latest.recall:.4f}  loss {score(latest.loss)}"
        )
        lines.append(f"best: F1 {score(run.best_f1)} at epoch {run.best_epoch}")
    footer = f"as of {iso(snapshot.taken_at)[:19]}"
    if follow:
        footer += " · following until the job ends (Ctrl-C stops)"
    parts: list[RenderableType] = [
        Panel(_lines(lines), title="monitor", subtitle=Text(footer), expand=False)
    ]
    if run.epochs:
        parts.append(epochs_table(run.epochs[-10:], run.best_epoch, "recent evaluations"))
    if snapshot.recent_logs:
        parts.append(logs_table(snapshot.recent_logs, limit=len(snapshot.recent_logs)))
    return Group(*parts)


def dataset_view(stats: DatasetInsight) -> RenderableType:
    summary: list[str | Text] = [
        Text(stats.source, style="bold"),
        f"receipts {stats.total_receipts:,}  lines {stats.total_lines:,}"
        f"  words {stats.total_words:,}"
        + (
            f"  (skipped {stats.receipts_without_words} without words)"
            if stats.receipts_without_words
            else ""
        ),
        f"VALID labelled words {stats.total_valid_labels:,}; INVALID or NEEDS_REVIEW (trained"
        f" as O) {stats.labelled_words_not_valid:,}",
        f"presets: {', '.join(stats.presets) or 'none'}; whitelist:"
        f" {', '.join(stats.allowed_labels) or 'none (every label)'}",
        f"trains on {len(stats.entity_labels)} label(s): {', '.join(stats.entity_labels)}",
    ]
    if stats.valid_words_dropped_by_whitelist:
        summary.append(
            f"VALID words the whitelist turns into O: {stats.valid_words_dropped_by_whitelist:,}"
        )
    labels = Table(title="labels by validation status (raw labels)")
    for column in ("label", "VALID", "INVALID", "NEEDS_REVIEW", "valid %", "share of VALID"):
        labels.add_column(column, justify="right" if column != "label" else "left")
    labels.add_column("trains as")
    for effect in stats.label_policy:
        share = stats.label_distribution.get(effect.label, 0.0)
        dropped = effect.trains_as == "O"
        trains_as = Text.assemble(("O (dropped)", "dim") if dropped else effect.trains_as)
        labels.add_row(
            effect.label,
            f"{effect.valid:,}",
            f"{effect.invalid:,}",
            f"{effect.needs_review:,}",
            f"{effect.valid_share:.1%}",
            f"{share:.1%}",
            trains_as,
        )
    trained = Table(title="trained labels (VALID words)")
    trained.add_column("label")
    trained.add_column("words", justify="right")
    for label, count in stats.training_label_counts.items():
        trained.add_row(label, f"{count:,}")
    balance: list[str | Text] = [_balance_line("all receipts", stats.balance)]
    if stats.train_balance is not None:
        target = f" (target {stats.o_entity_target:g})" if stats.o_entity_target else ""
        balance.append(
            _balance_line(f"training split{target}", stats.train_balance)
            + (f", {stats.dropped_lines:,} O-only line(s) dropped" if stats.dropped_lines else "")
        )
    if stats.train_receipts is not None:
        balance.append(
            f"split (seed {stats.seed}, {stats.validation_split:.0%} held out):"
            f" {stats.train_receipts:,} train / {stats.validation_receipts:,} validation receipts"
        )
    if stats.content_hash:
        balance.append(f"content hash {stats.content_hash}")
    if stats.problem:
        problem = Text.assemble(("cannot train with this policy:", "red"), f" {stats.problem}")
        balance.append(problem)
    return Group(
        Panel(_lines(summary), title="dataset", expand=False),
        labels,
        trained,
        Panel(_lines(balance), title="O:entity balance", expand=False),
    )


def _balance_line(what: str, balance: Balance) -> str:
    ratio = balance.o_entity_ratio
    shown = "-" if ratio is None else f"{ratio:.2f}"
    return f"{what}: O {balance.outside_words:,} : entity {balance.entity_words:,} = {shown}"


def comparison_view(comparison: RunComparison) -> RenderableType:
    names = [r.job_name for r in comparison.runs]
    runs = Table(title="runs")
    for column in ("run", "status", "best F1", "best epoch", "epochs"):
        runs.add_column(column)
    for run in comparison.runs:
        runs.add_row(
            run.job_name,
            status_text(run.status),
            score(run.best_f1),
            "-" if run.best_epoch is None else str(run.best_epoch),
            str(len(run.epochs)),
        )
    parts: list[RenderableType] = [runs]
    config = Table(title="config: only what differs")
    config.add_column("key")
    for name in names:
        config.add_column(name, overflow="fold")
    for difference in comparison.config_differences:
        config.add_row(difference.key, *(_plain(v) for v in difference.values))
    parts.append(config if comparison.config_differences else "configs are identical")
    if comparison.epochs:
        epochs = Table(title="F1 per epoch")
        epochs.add_column("epoch", justify="right")
        for name in names:
            epochs.add_column(name, justify="right")
        for epoch in comparison.epochs:
            cells = []
            for index, run in enumerate(comparison.runs):
                f1 = comparison.f1_at(index, epoch)
                mark = " *" if epoch == run.best_epoch and f1 is not None else ""
                cells.append(f"{score(f1)}{mark}")
            epochs.add_row(str(epoch), *cells)
        parts.append(epochs)
    else:
        parts.append(styled(("none of these runs has recorded metrics yet", "yellow")))
    if comparison.label_f1:
        labels = Table(title=f"per-label F1 at the best epoch (Δ against {names[0]})")
        labels.add_column("label")
        for index, name in enumerate(names):
            labels.add_column(name if index == 0 else f"{name} (Δ)", justify="right")
        for row in comparison.label_f1:
            deltas = zip(row.f1[1:], row.delta[1:], strict=True)
            changes = [Text.assemble(f"{score(f1)} (", _delta(d), ")") for f1, d in deltas]
            labels.add_row(row.label, score(row.f1[0]), *changes)
        parts.append(labels)
    return Group(*parts)


def _delta(value: float | None) -> Text:
    if value is None:
        return Text("-")
    colour = "green" if value > 0 else "red" if value < 0 else "dim"
    return Text(f"{value:+.4f}", style=colour)


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return "-" if value is None else str(value)
