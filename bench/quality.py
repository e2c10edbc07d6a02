"""Model quality within a CPU time budget: SROIE hold-out and WildReceipt k-fold.

    .venv/bin/python bench/quality.py [--only sroie|wildreceipt] [--budget-minutes 30]
        [--epochs N] [--lr 2e-4] [--pretrained minilm | --model-size tiny|small|base]
        [--folds 5] [--limit N] [--output DIR]

Every training run is a real job: a memory runtime (bootstrap(Settings(mode="memory"))),
run_training and the project's LayoutLMTrainer, so jobs, per-epoch evaluations and logs are
recorded as in a real run. Per-epoch numbers come from runtime.jobs.evaluations_of(job) and
the field F1 from the run's run.json history.

SROIE: train on SROIE train with a 15% hold-out (the trainer's validation), early stopping;
targets: entity F1 >= 0.90 and field F1 >= 0.90 at the best epoch ended within the budget.
WildReceipt dev, `amounts` preset: k-fold cross-validation (train on k-1 folds, score the
held-out fold every epoch with the trainer's evaluation), a fixed number of epochs and no
early stopping, so the final-epoch F1 is an unselected estimate.

A run whose next epoch would end after --budget-minutes is stopped after its current epoch
(the job ends `interrupted`, its evaluations stay recorded).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from machine import cpu_pressure
from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.torch.trainer import LayoutLMTrainer
from receipts.application.ports.training_backend import TrainingReporter, TrainingSpec
from receipts.application.ports.training_data import (
    DatasetStats,
    LabelledReceipt,
    PreparedDataset,
)
from receipts.application.training.datasets import (
    content_hash,
    label_receipt,
    prepare_dataset,
)
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime, bootstrap, training
from receipts.domain.config import JobConfig
from receipts.domain.fields import extract_fields, score_fields, words_with_labels
from receipts.domain.job import JobDraft
from receipts.domain.job_metric import Evaluation
from receipts.domain.labels import OUTSIDE
from receipts.entrypoints.structured_logs import configure_logging
from receipts.settings import Settings

F1_TARGET = 0.90
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SROIE = DATASETS / "sroie" / "train.jsonl"
WILDRECEIPT = DATASETS / "wildreceipt" / "dev.jsonl"
KEEP_BEST: Path | None = None
# SROIE carries these four; the `sroie` preset turns ADDRESS_LINE into ADDRESS
SROIE_DATA: dict[str, Any] = {
    "presets": ["sroie"],
    "allowed_labels": ["MERCHANT_NAME", "ADDRESS", "DATE", "AMOUNT"],
    "validation_split": 0.15,
}
# the `amounts` preset with the labels WildReceipt carries (the README's validate job)
WILDRECEIPT_DATA: dict[str, Any] = {
    "merge_amounts": True,
    "allowed_labels": [
        "MERCHANT_NAME",
        "PHONE_NUMBER",
        "ADDRESS_LINE",
        "DATE",
        "TIME",
        "PRODUCT_NAME",
        "AMOUNT",
    ],
}


@dataclass
class EpochPoint:
    epoch: int
    wall_seconds: float
    """Since run_training was called: data loading, tokenizer and model setup included."""
    epoch_seconds: float
    train_seconds: float
    """The trainer's own clock (Evaluation.elapsed_seconds): training and evaluation only."""
    entity_f1: float
    precision: float
    recall: float
    field_f1: float | None
    validation_loss: float | None
    train_loss: float | None


@dataclass
class RunResult:
    name: str
    job_id: str
    status: str
    status_reason: str | None
    train_receipts: int
    validation_receipts: int
    wall_seconds: float
    stopped_by_budget: bool
    field_f1_ceiling: float | None = None
    """The field F1 of the hold-out's own labels through the same extraction: what a model
    that labels every word as the data set does would score (SROIE's typed fields differ from
    its own transcriptions)."""
    points: list[EpochPoint] = field(default_factory=list)

    def best_within(self, seconds: float) -> EpochPoint | None:
        """The trainer's choice (highest entity F1, earliest on ties) among epochs ended in time."""
        done = [p for p in self.points if p.wall_seconds <= seconds]
        return max(done, key=lambda p: (p.entity_f1, -p.epoch), default=None)


class BudgetProgress:
    """A TrainingProgress that prints each epoch and stops the run before it overruns."""

    def __init__(self, label: str, budget_seconds: float, epochs: int) -> None:
        self.label = label
        self.budget_seconds = budget_seconds
        self.epochs = epochs
        self.trainer: LayoutLMTrainer | None = None
        self.started = time.perf_counter()
        self.epoch_ends: list[float] = []
        self.stopped_by_budget = False

    def start(self, total_steps: int, completed: int) -> None:
        print(f"  [{self.label}] {total_steps} optimizer steps planned", flush=True)

    def step(self, loss: float, epoch: int) -> None:
        pass

    def epoch(self, evaluation: Evaluation, field_f1: float | None, best: bool) -> None:
        now = time.perf_counter() - self.started
        last = now - (self.epoch_ends[-1] if self.epoch_ends else 0.0)
        self.epoch_ends.append(now)
        fields = f", field F1 {field_f1:.4f}" if field_f1 is not None else ""
        print(
            f"  [{self.label}] epoch {evaluation.epoch}: {last:.0f} s ({now / 60:.1f} min in),"
            f" entity F1 {evaluation.f1:.4f}{fields}{' (best)' if best else ''}",
            flush=True,
        )
        if evaluation.epoch < self.epochs and now + last > self.budget_seconds:
            self.stopped_by_budget = True
            print(f"  [{self.label}] next epoch would end after the budget: stopping", flush=True)
            if self.trainer is not None:
                self.trainer.request_stop("the benchmark's time budget")

    def stop(self) -> None:
        pass


DatasetLoader = Callable[[TrainingSpec, TrainingReporter], PreparedDataset]


def train_job(
    runtime: Runtime,
    label: str,
    config: dict[str, Any],
    load_dataset: DatasetLoader,
    budget_seconds: float,
) -> RunResult:
    """One job, trained by LayoutLMTrainer through run_training; checkpoints are deleted."""
    name = f"bench-{label.replace(' ', '-').replace('/', '-')}-{uuid.uuid4().hex[:8]}"
    job_id = runtime.jobs.create_job(
        JobDraft(
            name=name,
            description=f"bench/quality.py: {label}",
            created_by="bench/quality.py",
            config=config,
            tags={"skip-coreml-export": "true"},
        )
    )
    sizes: dict[str, int] = {}
    held_out: list[LabelledReceipt] = []

    def loader(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
        dataset = load_dataset(spec, reporter)
        sizes.update(train=len(dataset.train), validation=len(dataset.validation))
        held_out.extend(dataset.validation)
        return dataset

    epochs = int(config["hyperparameters"]["epochs"])
    progress = BudgetProgress(label, budget_seconds, epochs)
    with tempfile.TemporaryDirectory(prefix="receipts-quality-") as work:
        # artifacts=None: the best checkpoint stays a local file (an in-memory upload of
        # every run's checkpoint would only cost memory here)
        trainer = LayoutLMTrainer(
            loader, Path(work), progress=progress, handle_signals=False, keep_checkpoints=1
        )
        progress.trainer = trainer
        progress.started = time.perf_counter()
        status = run_training(runtime.jobs, job_id, trainer)
        wall = time.perf_counter() - progress.started
        run_json = Path(work) / name / "run.json"
        history = json.loads(run_json.read_text())["history"] if run_json.is_file() else []
        best = Path(work) / name / "best"
        if KEEP_BEST is not None and best.is_dir():
            shutil.copytree(best, KEEP_BEST / name, dirs_exist_ok=True)
        shutil.rmtree(Path(work) / name, ignore_errors=True)
    field_f1 = {h["epoch"]: h.get("field_f1") for h in history}
    job = runtime.jobs.get_job(job_id)
    result = RunResult(
        name=name,
        job_id=str(job_id),
        status=status.value,
        status_reason=job.status_reason,
        train_receipts=sizes.get("train", 0),
        validation_receipts=sizes.get("validation", 0),
        wall_seconds=wall,
        stopped_by_budget=progress.stopped_by_budget,
        field_f1_ceiling=field_f1_ceiling(held_out),
    )
    previous = 0.0
    for evaluation, ended in zip(
        runtime.jobs.evaluations_of(job_id), progress.epoch_ends, strict=False
    ):
        result.points.append(
            EpochPoint(
                epoch=evaluation.epoch,
                wall_seconds=ended,
                epoch_seconds=ended - previous,
                train_seconds=evaluation.elapsed_seconds or 0.0,
                entity_f1=evaluation.f1,
                precision=evaluation.precision,
                recall=evaluation.recall,
                field_f1=field_f1.get(evaluation.epoch),
                validation_loss=evaluation.loss,
                train_loss=evaluation.train_loss,
            )
        )
        previous = ended
    if status.value not in ("succeeded", "interrupted"):
        print(f"  [{label}] job {status.value}: {job.status_reason}", flush=True)
    return result


def field_f1_ceiling(receipts: Sequence[LabelledReceipt]) -> float | None:
    scored = [r for r in receipts if r.fields]
    if not scored:
        return None
    own = [extract_fields(words_with_labels(r.texts, r.tags, r.lines)) for r in scored]
    return score_fields(own, [r.fields for r in scored]).f1


def job_config(
    args: argparse.Namespace, data: dict[str, Any], epochs: int, patience: int
) -> dict[str, Any]:
    return {
        "hyperparameters": {
            "epochs": epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "warmup_ratio": 0.1,
            "label_smoothing": args.label_smoothing,
            "o_entity_ratio": args.o_entity_ratio,
            "early_stopping_patience": patience,
            "early_stopping_threshold": 0.001,
            "seed": args.seed,
            "mixed_precision": args.mixed_precision,
        },
        "data": data,
        "model": {
            "model_size": args.model_size or "small",
            "pretrained": args.pretrained,
            "max_seq_length": 512,
            "stride": 128,
        },
    }


def sroie_run(runtime: Runtime, args: argparse.Namespace) -> RunResult:
    data = {**SROIE_DATA, "dataset": str(args.sroie)}
    config = job_config(args, data, args.epochs or 7, patience=2)
    if args.limit is None:
        load_dataset: DatasetLoader = training.load_dataset  # the real `receipts train` path
    else:

        def load_dataset(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
            receipts = list(JSONLLabelStore(args.sroie).receipts())[: args.limit]
            return prepare_dataset(
                receipts,
                spec.config.data,
                seed=spec.config.hyperparameters.seed,
                o_entity_ratio=spec.config.hyperparameters.o_entity_ratio,
                source=f"{args.sroie}[:{args.limit}]",
            )

    return train_job(runtime, "sroie", config, load_dataset, args.budget_minutes * 60)


def stats_of(receipts: Sequence[LabelledReceipt]) -> DatasetStats:
    counts: Counter[str] = Counter(
        tag.split("-", 1)[1] if tag != OUTSIDE else OUTSIDE for r in receipts for tag in r.tags
    )
    words = sum(counts.values())
    return DatasetStats(
        receipts=len(receipts),
        lines=sum(len(set(r.lines)) for r in receipts),
        words=words,
        entity_words=words - counts[OUTSIDE],
        outside_words=counts[OUTSIDE],
        training_label_counts={k: v for k, v in sorted(counts.items()) if k != OUTSIDE},
    )


def folds_of(receipts: Sequence[LabelledReceipt], k: int, seed: int) -> list[list[LabelledReceipt]]:
    """k folds of a seeded order by receipt id (stable when the file is reordered)."""
    ordered = sorted(
        receipts, key=lambda r: hashlib.sha256(f"{seed}:{r.receipt_id}".encode()).hexdigest()
    )
    return [ordered[i::k] for i in range(k)]


def wildreceipt_runs(runtime: Runtime, args: argparse.Namespace) -> list[RunResult]:
    data = {**WILDRECEIPT_DATA, "dataset": str(args.wildreceipt)}
    config = job_config(args, data, args.epochs or 8, patience=0)
    data_config = JobConfig.parse(config).data
    store = JSONLLabelStore(args.wildreceipt)
    labelled = [label_receipt(r, data_config) for r in store.receipts() if r.words][: args.limit]
    tags = tuple(data_config.bio_tags())
    folds = folds_of(labelled, args.folds, args.seed)
    results = []
    for index, held_out in enumerate(folds):
        train = [r for i, fold in enumerate(folds) if i != index for r in fold]

        def load_dataset(
            spec: TrainingSpec,
            reporter: TrainingReporter,
            train: list[LabelledReceipt] = train,
            held_out: list[LabelledReceipt] = held_out,
            index: int = index,
        ) -> PreparedDataset:
            return PreparedDataset(
                source=f"{args.wildreceipt}#fold-{index + 1}-of-{args.folds}",
                content_hash=content_hash([*train, *held_out], tags),
                tags=tags,
                train=tuple(train),
                validation=tuple(held_out),
                stats=stats_of([*train, *held_out]),
                train_stats=stats_of(train),
            )

        label = f"wildreceipt fold {index + 1}/{args.folds}"
        results.append(train_job(runtime, label, config, load_dataset, args.budget_minutes * 60))
    return results


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def plot(
    path: Path, sroie: RunResult | None, folds: list[RunResult], title: str, budget_min: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5.5))
    if sroie and sroie.points:
        minutes = [p.wall_seconds / 60 for p in sroie.points]
        axes.plot(
            minutes, [p.entity_f1 for p in sroie.points], "o-", color="C0", label="SROIE entity F1"
        )
        if any(p.field_f1 is not None for p in sroie.points):
            axes.plot(
                minutes,
                [p.field_f1 if p.field_f1 is not None else math.nan for p in sroie.points],
                "s--",
                color="C1",
                label="SROIE field F1",
            )
        if sroie.field_f1_ceiling is not None:
            axes.axhline(
                sroie.field_f1_ceiling,
                color="C1",
                linestyle="-.",
                linewidth=1,
                label=f"SROIE field F1 of the hold-out's own labels ({sroie.field_f1_ceiling:.3f})",
            )
    for index, run in enumerate(folds):
        if run.points:
            axes.plot(
                [p.wall_seconds / 60 for p in run.points],
                [p.entity_f1 for p in run.points],
                ".-",
                color="C2",
                alpha=0.6,
                linewidth=1,
                label="WildReceipt entity F1 (one line per fold)" if index == 0 else None,
            )
    axes.axhline(F1_TARGET, color="grey", linestyle=":", label=f"target F1 {F1_TARGET:.2f}")
    axes.axvline(budget_min, color="red", linestyle=":", label=f"budget {budget_min:g} min")
    axes.set_xlabel("wall time since the run started (minutes)")
    axes.set_ylabel("F1 on held-out receipts (0-1)")
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlim(left=0)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sroie", "wildreceipt"), default=None)
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=30.0,
        help="wall time of one training run (the SROIE run, each fold); also the SROIE target",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="default 7 (SROIE), 8 (each WildReceipt fold)"
    )
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument(
        "--o-entity-ratio",
        type=float,
        default=None,
        help="drop O-only lines from training until O:entity <= this (the trainer's option)",
    )
    parser.add_argument(
        "--pretrained",
        default=None,
        help="'minilm' (the default unless --model-size is given), a model directory, or 'none'",
    )
    parser.add_argument(
        "--model-size", choices=("tiny", "small", "base"), default=None, help="from scratch"
    )
    parser.add_argument("--folds", type=int, default=5, help="WildReceipt cross-validation folds")
    parser.add_argument("--limit", type=int, default=None, help="first N receipts of each set")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--keep-best", type=Path, default=None, help="copy each run's best checkpoint here"
    )
    parser.add_argument(
        "--mixed-precision",
        choices=("no", "bf16"),
        default="no",
        help="bf16 autocast on the CPU (fast where it has AMX / AVX512-BF16)",
    )
    parser.add_argument("--sroie", type=Path, default=SROIE)
    parser.add_argument("--wildreceipt", type=Path, default=WILDRECEIPT)
    parser.add_argument("--output", type=Path, default=Path(".receipts/bench/quality"))
    args = parser.parse_args(argv)
    global KEEP_BEST
    KEEP_BEST = args.keep_best
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    if args.pretrained is None and args.model_size is None:
        args.pretrained = "minilm"
    elif args.pretrained == "none":
        args.pretrained = None
    model = args.pretrained or f"{args.model_size} from scratch"

    settings = Settings(mode="memory", log_level="warning")
    configure_logging(settings)
    pressure_before = cpu_pressure()
    print(
        f"python {sys.version.split()[0]}  torch {torch.__version__}"
        f"  threads {torch.get_num_threads()}  cpu pressure (some avg10): {pressure_before}"
    )
    print("(pressure above a few % means another process competes for the CPU: times swing)")
    print(
        f"model {model}, lr {args.lr}, batch {args.batch_size}, max_seq_length 512, stride 128,"
        f" budget {args.budget_minutes:g} min per run"
        + (f", first {args.limit} receipts only" if args.limit else "")
    )
    runtime = bootstrap(settings)
    sroie: RunResult | None = None
    folds: list[RunResult] = []
    try:
        if args.only in (None, "sroie"):
            print(f"SROIE: {args.sroie}, 15% hold-out, early stopping (patience 2)", flush=True)
            sroie = sroie_run(runtime, args)
        if args.only in (None, "wildreceipt"):
            print(
                f"WildReceipt: {args.wildreceipt}, `amounts` preset, {args.folds}-fold"
                " cross-validation, no early stopping",
                flush=True,
            )
            folds = wildreceipt_runs(runtime, args)
    finally:
        runtime.close()
    pressure_after = cpu_pressure()

    budget = args.budget_minutes * 60
    rows: list[tuple[str, str, str, str, str]] = []
    summary: dict[str, Any] = {}
    if sroie is not None:
        best = sroie.best_within(budget)
        entity = best.entity_f1 if best else 0.0
        fields = best.field_f1 if best and best.field_f1 is not None else 0.0
        where = (
            f"epoch {best.epoch} at {best.wall_seconds / 60:.1f} min; {sroie.status}"
            if best
            else f"no epoch within the budget; {sroie.status}"
        )
        target = f">= {F1_TARGET:.2f} in {args.budget_minutes:g} min"
        rows += [
            (
                "SROIE entity F1, best epoch in budget",
                f"{entity:.4f}",
                target,
                verdict(entity >= F1_TARGET),
                where,
            ),
            (
                "SROIE field F1, same epoch",
                f"{fields:.4f}",
                target,
                verdict(fields >= F1_TARGET),
                where,
            ),
            (
                "SROIE field F1 of the hold-out's own labels",
                f"{sroie.field_f1_ceiling or 0.0:.4f}",
                "-",
                "",
                "the ceiling: SROIE's typed fields vs its transcriptions",
            ),
            (
                "SROIE wall time, min (epochs run)",
                f"{sroie.wall_seconds / 60:.1f} ({len(sroie.points)})",
                "-",
                "",
                f"{sroie.train_receipts} train / {sroie.validation_receipts} hold-out receipts",
            ),
        ]
        summary["sroie"] = {
            "best_epoch_in_budget": asdict(best) if best else None,
            "entity_f1_pass": entity >= F1_TARGET,
            "field_f1_pass": fields >= F1_TARGET,
            "field_f1_ceiling": sroie.field_f1_ceiling,
        }
    if folds:
        final = [run.points[-1].entity_f1 for run in folds if run.points]
        best_f1 = [max(p.entity_f1 for p in run.points) for run in folds if run.points]
        walls = [run.wall_seconds for run in folds]
        final_mean, final_std = mean_std(final)
        best_mean, best_std = mean_std(best_f1)
        wall_mean, wall_std = mean_std(walls)
        rows += [
            (
                f"WildReceipt entity F1, {args.folds}-fold, final epoch",
                f"{final_mean:.4f} ± {final_std:.4f}",
                "-",
                "",
                ", ".join(f"{v:.3f}" for v in final),
            ),
            (
                "WildReceipt entity F1, best epoch (optimistic)",
                f"{best_mean:.4f} ± {best_std:.4f}",
                "-",
                "",
                ", ".join(f"{v:.3f}" for v in best_f1),
            ),
            (
                "WildReceipt wall time per fold, min",
                f"{wall_mean / 60:.1f} ± {wall_std / 60:.1f}",
                "-",
                "",
                f"total {sum(walls) / 60:.1f} min; "
                f"{folds[0].train_receipts} train / {folds[0].validation_receipts} held out",
            ),
        ]
        summary["wildreceipt"] = {
            "final_entity_f1": {"mean": final_mean, "std": final_std, "folds": final},
            "best_entity_f1": {"mean": best_mean, "std": best_std, "folds": best_f1},
            "wall_seconds": {"mean": wall_mean, "std": wall_std, "total": sum(walls)},
        }

    header = ("measure", "value", "target", "", "detail")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"cpu pressure after (some avg10): {pressure_after}")

    args.output.mkdir(parents=True, exist_ok=True)
    report = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu_pressure_before": pressure_before,
            "cpu_pressure_after": pressure_after,
        },
        "summary": summary,
        "sroie": asdict(sroie) if sroie else None,
        "wildreceipt_folds": [asdict(run) for run in folds],
        "table": [dict(zip(header, row, strict=True)) for row in rows],
    }
    (args.output / "results.json").write_text(json.dumps(report, indent=2))
    title = f"receipts quality: {model}, lr {args.lr}, batch {args.batch_size}" + (
        f", first {args.limit} receipts" if args.limit else ""
    )
    plot(args.output / "f1_vs_wall_time.png", sroie, folds, title, args.budget_minutes)
    print(f"wrote {args.output / 'results.json'} and {args.output / 'f1_vs_wall_time.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
