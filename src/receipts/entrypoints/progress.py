"""Rich progress bars: a counting bar, and training's steps, loss, ETA and a line per epoch."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from receipts.domain.job_metric import Evaluation
from receipts.entrypoints.console import err, styled


def counting_bar(*extra: ProgressColumn) -> Progress:
    """Description, bar, done/total, the `extra` columns, time elapsed; on stderr."""
    return Progress(
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=err,
    )


class RichTrainingProgress:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("eta", markup=False),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._header = False

    def start(self, total_steps: int, completed: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=total_steps, completed=completed, epoch=1, loss="-"
        )

    def step(self, loss: float, epoch: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=1, epoch=epoch, loss=f"{loss:.4f}")

    def epoch(self, evaluation: Evaluation, field_f1: float | None, best: bool) -> None:
        if not self._header:
            self._progress.console.print(
                f"{'epoch':>5} {'step':>6} {'F1':>7} {'prec':>7} {'recall':>7} {'val loss':>9}"
                f" {'train loss':>10} {'field F1':>8} {'time':>7}"
            )
            self._header = True
        loss = f"{evaluation.loss:.4f}" if evaluation.loss is not None else "-"
        train = f"{evaluation.train_loss:.4f}" if evaluation.train_loss is not None else "-"
        fields = f"{field_f1:.4f}" if field_f1 is not None else "-"
        line = (
            f"{evaluation.epoch:>5} {evaluation.global_step:>6} {evaluation.f1:>7.4f}"
            f" {evaluation.precision:>7.4f}"
            f" {evaluation.recall:>7.4f} {loss:>9} {train:>10} {fields:>8}"
            f" {evaluation.elapsed_seconds or 0:>6.0f}s"
        )
        self._progress.console.print(styled(line, "  ", ("best", "green")) if best else line)

    def stop(self) -> None:
        self._progress.stop()
