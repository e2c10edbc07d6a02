"""The figures of a run report, as PNG files: training curves, per-label scores, the
confusion of labels and the label distribution. Figures are built without pyplot (no global
state), on the Agg canvas, so they draw headless and from any thread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from receipts.application.insight.runs import EpochMetrics
from receipts.domain.job_metric import LabelScore

DPI = 110
COLOURS = {"f1": "#1f77b4", "precision": "#2ca02c", "recall": "#d62728"}
LOSS_COLOURS = {"validation": "#9467bd", "training": "#ff7f0e"}


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    return path


def _epoch_axis(axes: Axes) -> None:
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, alpha=0.3)


def training_curves(
    epochs: Sequence[EpochMetrics], path: Path, best_epoch: int | None = None
) -> Path | None:
    """Loss (validation and training) and entity F1, precision, recall per epoch; a dashed
    line marks `best_epoch` (the kept checkpoint; default: the highest F1)."""
    if not epochs:
        return None
    x = [e.epoch for e in epochs]
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, score_axes = figure.subplots(1, 2)
    for name, values in (
        ("validation", [e.loss for e in epochs]),
        ("training", [e.train_loss for e in epochs]),
    ):
        points = [(xi, v) for xi, v in zip(x, values, strict=True) if v is not None]
        if points:
            loss_axes.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o",
                color=LOSS_COLOURS[name],
                label=f"{name} loss",
            )
    loss_axes.set_title("Loss per epoch")
    loss_axes.set_ylabel("cross-entropy (nats per token)")
    _epoch_axis(loss_axes)
    if loss_axes.lines:
        loss_axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    else:
        loss_axes.text(0.5, 0.5, "no loss recorded", ha="center", transform=loss_axes.transAxes)
    for name in ("f1", "precision", "recall"):
        score_axes.plot(
            x,
            [getattr(e, name) for e in epochs],
            marker="o",
            color=COLOURS[name],
            label="F1" if name == "f1" else name,
        )
    best = next((e for e in epochs if e.epoch == best_epoch), max(epochs, key=lambda e: e.f1))
    score_axes.axvline(
        best.epoch,
        color="grey",
        linestyle="--",
        label=f"best F1 {best.f1:.3f} (epoch {best.epoch})",
    )
    score_axes.set_title("Validation scores per epoch (entity level)")
    score_axes.set_ylabel("score (0 to 1)")
    score_axes.set_ylim(0, 1.05)
    _epoch_axis(score_axes)
    score_axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)
    return _save(figure, path)


def label_scores(per_label: Mapping[str, LabelScore], path: Path) -> Path | None:
    """Precision, recall and F1 of each label at the best epoch, with its support."""
    if not per_label:
        return None
    labels = sorted(per_label, key=lambda label: per_label[label].f1)
    height = 0.26
    figure = Figure(figsize=(9, 1.2 + 0.55 * len(labels)), layout="constrained")
    axes = figure.subplots()
    for offset, name in ((-height, "recall"), (0.0, "precision"), (height, "f1")):
        axes.barh(
            [i + offset for i in range(len(labels))],
            [getattr(per_label[label], name) for label in labels],
            height=height,
            color=COLOURS[name],
            label="F1" if name == "f1" else name,
        )
    for i, label in enumerate(labels):
        score = per_label[label]
        axes.text(1.01, i, f"F1 {score.f1:.2f}  (n={score.support})", va="center", fontsize=9)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlim(0, 1.3)
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel("score at the best epoch (entity level, 0 to 1); n = entities in validation")
    axes.grid(True, axis="x", alpha=0.3)
    figure.suptitle("Per-label scores at the best epoch")
    handles, names = axes.get_legend_handles_labels()
    axes.legend(
        handles[::-1],
        names[::-1],
        loc="lower center",
        bbox_to_anchor=(0.5, 1.01),
        ncol=3,
        frameon=False,
    )
    return _save(figure, path)


def confusion_matrix(
    labels: Sequence[str], grid: Sequence[Sequence[int]], path: Path
) -> Path | None:
    """Words by true label (rows) and predicted label (columns); colour: share of the row."""
    if not labels:
        return None
    size = len(labels)
    shares = [[n / (sum(row) or 1) for n in row] for row in grid]
    figure = Figure(figsize=(2.5 + 0.62 * size, 1.8 + 0.55 * size), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for t, row in enumerate(grid):
        for p, count in enumerate(row):
            if count:
                dark = shares[t][p] > 0.6
                axes.text(
                    p,
                    t,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    axes.set_xticks(range(size), labels, rotation=45, ha="right")
    axes.set_yticks(range(size), labels)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title("Confusion of labels at the best epoch (words)")
    colourbar = figure.colorbar(image, ax=axes, shrink=0.8)
    colourbar.set_label("share of the true label's words")
    return _save(figure, path)


def label_distribution(counts: Mapping[str, int], axis_label: str, path: Path) -> Path | None:
    """Words per label, largest first."""
    if not counts:
        return None
    labels = sorted(counts, key=lambda label: counts[label])
    figure = Figure(figsize=(9, 1.2 + 0.4 * len(labels)), layout="constrained")
    axes = figure.subplots()
    bars = axes.barh(labels, [counts[label] for label in labels], color="#4c72b0", label="words")
    axes.bar_label(bars, labels=[f"{counts[label]:,}" for label in labels], padding=3, fontsize=9)
    axes.set_xlabel(axis_label)
    axes.set_xlim(0, max(counts.values()) * 1.15 or 1)
    axes.set_title("Label distribution")
    axes.grid(True, axis="x", alpha=0.3)
    return _save(figure, path)
