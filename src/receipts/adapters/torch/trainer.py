"""The in-process LayoutLM trainer: a TrainingBackend on torch and transformers."""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from receipts.adapters.torch.batching import collate, plan_batches
from receipts.adapters.torch.checkpoints import (
    copy_checkpoint,
    directory_uri,
    read_state,
    restore_training_state,
    save_checkpoint,
    saved_checkpoints,
)
from receipts.adapters.torch.distributed import SINGLE_PROCESS, Distributed
from receipts.adapters.torch.encoding import IGNORE, Encoded, encode_receipt
from receipts.adapters.torch.metrics import entity_scores, word_confusion
from receipts.adapters.torch.models import (
    NotAModel,
    PretrainedSource,
    build_model,
    load_model,
    resolve_pretrained,
    set_line_labels,
)
from receipts.adapters.torch.prediction import WordPrediction, predict, predicted_words
from receipts.adapters.torch.tokenization import load_tokenizer, train_tokenizer
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.training_backend import (
    TrainingCancelled,
    TrainingFailed,
    TrainingInterrupted,
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.ports.training_data import LabelledReceipt, PreparedDataset
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.config import Hyperparameters
from receipts.domain.decoding import line_level_labels
from receipts.domain.fields import extract_fields, score_fields
from receipts.domain.job import DatasetLineage, JobResults
from receipts.domain.job_log import LogLevel
from receipts.domain.job_metric import Evaluation

hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


class TrainingProgress(Protocol):
    """What a trainer tells a progress display (rich bar, logs)."""

    def start(self, total_steps: int, completed: int) -> None: ...

    def step(self, loss: float, epoch: int) -> None: ...

    def epoch(self, evaluation: Evaluation, field_f1: float | None, best: bool) -> None: ...

    def stop(self) -> None: ...


class NoProgress:
    def start(self, total_steps: int, completed: int) -> None:
        pass

    def step(self, loss: float, epoch: int) -> None:
        pass

    def epoch(self, evaluation: Evaluation, field_f1: float | None, best: bool) -> None:
        pass

    def stop(self) -> None:
        pass


class SilentReporter:
    """What ranks other than 0 report to: nothing (only rank 0 touches the event store)."""

    def evaluation(self, evaluation: Evaluation) -> None:
        pass

    def log(self, message: str, level: LogLevel = "info", **data: Any) -> None:
        pass

    def run_config(self, data: dict[str, Any]) -> None:
        pass

    def checkpoint(self, uri: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


DatasetLoader = Callable[[TrainingSpec, TrainingReporter], PreparedDataset]


@dataclass
class _RunState:
    epoch: int = 1
    next_batch: int = 0
    global_step: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    best_step: int = 0
    since_best: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0


@dataclass
class _Training:
    """What one call of `train` works with: built by `_setup`, then trained epoch by epoch."""

    spec: TrainingSpec
    reporter: TrainingReporter
    run_dir: Path
    dataset: PreparedDataset
    tags: list[str]
    model: LayoutLMForTokenClassification
    ddp: DistributedDataParallel | None  # the model wrapped, with several ranks
    tokenizer: PreTrainedTokenizerFast
    examples: list[Encoded] = field(default_factory=list)
    optimizer: torch.optim.AdamW = field(init=False)
    scheduler: torch.optim.lr_scheduler.LambdaLR = field(init=False)
    loss_fn: torch.nn.CrossEntropyLoss = field(init=False)
    autocast: torch.dtype | None = None
    scaler: torch.amp.GradScaler = field(init=False)
    run: _RunState = field(default_factory=_RunState)
    started: float = 0.0
    tag_ids: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.tag_ids = {tag: i for i, tag in enumerate(self.tags)}

    @property
    def hp(self) -> Hyperparameters:
        return self.spec.config.hyperparameters

    @property
    def forward(self) -> torch.nn.Module:
        return self.ddp if self.ddp is not None else self.model


class LayoutLMTrainer:
    """Trains LayoutLMForTokenClassification on a prepared data set.

    Each epoch writes `checkpoint-<step>/` (HF layout, safetensors), keeps `best/`, and
    rewrites `run.json`; each evaluation is reported as it happens. SIGINT/SIGTERM save a
    resumable checkpoint and raise TrainingInterrupted; resuming restores weights,
    optimizer, schedule, RNG and position, so it ends where an uninterrupted run would.

    With `distributed` of world size > 1 (torchrun) every rank runs `train` on the same
    spec: the model is wrapped in DistributedDataParallel, each rank trains its shard of
    each epoch's batch plan, evaluation is sharded and gathered, and only rank 0 reports,
    writes checkpoints, best/ and run.json, and publishes. Stops (signals, cancellation)
    are agreed on by all ranks at each step, so they stop at the same one.
    """

    name = "local"

    def __init__(
        self,
        load_dataset: DatasetLoader,
        output_dir: Path,
        artifacts: ArtifactStore | None = None,
        runs_prefix: str | None = None,
        *,
        progress: TrainingProgress | None = None,
        keep_checkpoints: int = 2,
        handle_signals: bool = True,
        device: str | None = None,
        stop_after_steps: int | None = None,
        distributed: Distributed | None = None,
    ) -> None:
        self.dist = distributed or SINGLE_PROCESS
        self.load_dataset = load_dataset
        self.output_dir = Path(output_dir)
        self.artifacts = artifacts
        self.runs_prefix = runs_prefix
        self.progress: TrainingProgress = progress or NoProgress()
        self.keep_checkpoints = max(1, keep_checkpoints)
        self.handle_signals = handle_signals
        if device is None and self.dist.enabled:
            self.device = self.dist.device()
        else:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.stop_after_steps = stop_after_steps
        self._stop_signal: str | None = None

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        if not self.dist.is_main:
            reporter = SilentReporter()
            self.progress = NoProgress()
        with self._signals():
            try:
                return self._train(spec, reporter)
            finally:
                self.progress.stop()

    def request_stop(self, reason: str = "stop requested") -> None:
        self._stop_signal = reason

    def _train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        t = self._setup(spec, reporter)
        for epoch in range(t.run.epoch, t.hp.epochs + 1):
            losses = self._run_epoch(t, epoch)
            if self._end_epoch(t, epoch, losses):
                return self._finish(t, stopped_early=True)
        return self._finish(t, stopped_early=False)

    def _setup(self, spec: TrainingSpec, reporter: TrainingReporter) -> _Training:
        """Data, model (wrapped in DDP on several ranks), examples, optimizer and schedule,
        restored from the resume checkpoint when there is one."""
        hp = spec.config.hyperparameters
        run_dir = self.output_dir / spec.job_name
        main = self.dist.is_main
        if main:
            run_dir.mkdir(parents=True, exist_ok=True)
        # ranks other than 0 load the data without saving a snapshot
        dataset = self.load_dataset(
            spec if main else spec.with_data(dataset_snapshot_save=None), reporter
        )
        tags = list(dataset.tags)
        torch.manual_seed(hp.seed)
        resume_dir = self._resume_dir(spec)
        model, tokenizer = self._model_and_tokenizer(spec, dataset, tags, resume_dir)
        # decoded line by line wherever the training data label whole lines (domain.decoding)
        set_line_labels(model, line_level_labels((r.tags, r.lines) for r in dataset.train))
        model.to(self.device)  # type: ignore[arg-type]
        # the pooler is outside the loss's graph: DDP must be told some parameters get no grad
        ddp = (
            DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
            if self.dist.enabled
            else None
        )
        t = _Training(spec, reporter, run_dir, dataset, tags, model, ddp, tokenizer)
        reporter.run_config(self._run_config(t, resume_dir))
        window = spec.config.model
        t.examples = [
            example
            for index, receipt in enumerate(dataset.train)
            for example in encode_receipt(
                index, receipt, tokenizer, t.tag_ids, window.max_seq_length, window.stride
            )
        ]
        if not t.examples:
            raise TrainingFailed("empty training set: no receipt produced a window")
        t.optimizer = _adamw(model, hp.learning_rate, hp.weight_decay)
        batches_per_epoch = self.dist.shard_count(math.ceil(len(t.examples) / hp.batch_size))
        total_steps = math.ceil(batches_per_epoch / hp.gradient_accumulation_steps) * hp.epochs
        t.scheduler = torch.optim.lr_scheduler.LambdaLR(
            t.optimizer, _linear_schedule(int(total_steps * hp.warmup_ratio), total_steps)
        )
        if resume_dir is not None:
            restore_training_state(resume_dir, t.optimizer, t.scheduler)
            t.run = _RunState(**read_state(resume_dir)["run"])
            reporter.log(
                f"resumed at epoch {t.run.epoch}, step {t.run.global_step}",
                resumed_from=str(resume_dir),
            )
        t.loss_fn = torch.nn.CrossEntropyLoss(
            ignore_index=IGNORE, label_smoothing=hp.label_smoothing
        )
        t.autocast = self._autocast_dtype(hp.mixed_precision)
        # disabled, a GradScaler passes everything through unchanged
        t.scaler = torch.amp.GradScaler("cuda", enabled=t.autocast == torch.float16)
        self.progress.start(total_steps, t.run.global_step)
        t.started = time.perf_counter() - t.run.elapsed
        return t

    def _run_config(self, t: _Training, resume_dir: Path | None) -> dict[str, Any]:
        dataset = t.dataset
        return {
            "config": t.spec.config.model_dump(mode="json"),
            "backend": self.name,
            "device": str(self.device),
            "world_size": self.dist.world_size,
            "parameters": sum(p.numel() for p in t.model.parameters()),
            "vocab_size": t.tokenizer.vocab_size,
            "tags": t.tags,
            "dataset": {
                **_dataset_record(dataset),
                "outside_to_entity": dataset.stats.outside_to_entity,
            },
            "train": dataset.train_stats.model_dump(),
            "validation_receipts": len(dataset.validation),
            "resumed_from": str(resume_dir) if resume_dir else None,
        }

    def _run_epoch(self, t: _Training, epoch: int) -> list[float]:
        """Trains this rank's share of the epoch's batch plan, from where a resumed run left
        off; the loss of each batch."""
        hp, run = t.hp, t.run
        run.epoch = epoch
        plan = self.dist.shard(
            plan_batches([len(e) for e in t.examples], hp.batch_size, hp.seed, epoch)
        )
        first_batch = run.next_batch
        loader: DataLoader[Encoded] = DataLoader(
            t.examples,  # type: ignore[arg-type]
            batch_sampler=plan[first_batch:],
            collate_fn=partial(collate, pad_id=t.tokenizer.pad_token_id),
            num_workers=hp.num_workers,
            pin_memory=self.device.type == "cuda",
            # its own generator: drawing its seed from the global RNG would shift the
            # dropout masks of a resumed epoch
            generator=torch.Generator().manual_seed(hp.seed + epoch),
        )
        t.forward.train()
        losses: list[float] = []
        t.optimizer.zero_grad(set_to_none=True)
        for batch_index, batch in enumerate(loader, start=first_batch):
            done = batch_index + 1
            boundary = done % hp.gradient_accumulation_steps == 0 or done == len(plan)
            losses.append(self._backward(t, batch, boundary))
            if not boundary:
                continue
            self._optimizer_step(t)
            run.next_batch = done
            self.progress.step(losses[-1], epoch)
            self._stop_if_asked(t, mid_epoch=run.next_batch < len(plan))
        run.next_batch = 0
        return losses

    def _backward(self, t: _Training, cpu_batch: dict[str, torch.Tensor], sync: bool) -> float:
        """Adds one batch's gradients (all-reduced under DDP only when `sync`); its loss."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in cpu_batch.items()}
        with torch.autocast(self.device.type, dtype=t.autocast, enabled=t.autocast is not None):
            logits = t.forward(
                input_ids=batch["input_ids"],
                bbox=batch["bbox"],
                attention_mask=batch["attention_mask"],
            ).logits
            loss = t.loss_fn(logits.float().view(-1, len(t.tags)), batch["labels"].view(-1))
        if not torch.isfinite(loss):
            raise TrainingFailed(
                f"loss became {float(loss.detach())} at epoch {t.run.epoch},"
                f" step {t.run.global_step}: lower the learning rate or check the data"
            )
        scaled = loss / t.hp.gradient_accumulation_steps
        # between optimizer steps DDP need not all-reduce the gradients
        with t.ddp.no_sync() if t.ddp is not None and not sync else nullcontext():
            t.scaler.scale(scaled).backward()
        return float(loss.detach())

    def _optimizer_step(self, t: _Training) -> None:
        t.scaler.unscale_(t.optimizer)
        torch.nn.utils.clip_grad_norm_(t.model.parameters(), t.hp.max_grad_norm)
        t.scaler.step(t.optimizer)
        t.scaler.update()
        t.scheduler.step()
        t.optimizer.zero_grad(set_to_none=True)
        t.run.global_step += 1

    def _stop_if_asked(self, t: _Training, mid_epoch: bool) -> None:
        """After an optimizer step: raises when any rank was cancelled or (mid-epoch; at
        its end the epoch is evaluated first) asked to stop, after a resumable checkpoint."""
        step = t.run.global_step
        cancelled = step % 20 == 0 and t.reporter.cancelled()
        if self.stop_after_steps is not None and step >= self.stop_after_steps:
            self._stop_signal = f"stopped after {step} steps"
        cancelled, stop = self._agree(cancelled)
        if cancelled:
            raise TrainingCancelled
        if stop and mid_epoch:
            path = self._checkpoint(t)
            self.dist.barrier()
            raise self._interrupted(path)

    def _end_epoch(self, t: _Training, epoch: int, losses: list[float]) -> bool:
        """Evaluates, keeps the best, checkpoints; whether to stop early."""
        hp, run = t.hp, t.run
        evaluation, field_f1 = self._evaluate(t, epoch, losses)
        t.reporter.evaluation(evaluation)
        improved = run.best_epoch == 0 or evaluation.f1 > run.best_f1 + hp.early_stopping_threshold
        if improved:
            run.best_f1, run.best_epoch, run.best_step = evaluation.f1, epoch, run.global_step
            run.since_best = 0
        else:
            run.since_best += 1
        run.history.append({**evaluation.model_dump(mode="json"), "field_f1": field_f1})
        run.epoch = epoch + 1
        checkpoint = self._checkpoint(t)
        if self.dist.is_main:
            if improved:
                copy_checkpoint(checkpoint, t.run_dir / "best")
            self._prune(t.run_dir, keep=checkpoint)
            self._write_run_json(t)
        self.progress.epoch(evaluation, field_f1, improved)
        patience = hp.early_stopping_patience
        if patience and run.since_best >= patience and epoch < hp.epochs:
            t.reporter.log(
                f"early stop after epoch {epoch}: no F1 gain above"
                f" {hp.early_stopping_threshold} for {run.since_best} epoch(s)",
            )
            return True
        if self._agree()[1]:
            raise self._interrupted(checkpoint)
        return False

    def _checkpoint(self, t: _Training) -> Path:
        """Rank 0 writes a resumable checkpoint of the run as it stands; its path."""
        t.run.elapsed = time.perf_counter() - t.started
        path = t.run_dir / f"checkpoint-{t.run.global_step}"
        if self.dist.is_main:
            state = {
                "run": vars(t.run),
                "job_name": t.spec.job_name,
                "config": t.spec.config.model_dump(mode="json"),
            }
            save_checkpoint(path, t.model, t.tokenizer, state, t.optimizer, t.scheduler)
            # whole now (renamed into place): recorded on the job's lease before any pruning
            t.reporter.checkpoint(directory_uri(path))
        return path

    def _interrupted(self, checkpoint: Path) -> TrainingInterrupted:
        return TrainingInterrupted(directory_uri(checkpoint), f"interrupted by {self._stop_signal}")

    def _finish(self, t: _Training, stopped_early: bool) -> JobResults:
        """Rank 0 publishes best/; every rank returns the results."""
        run, dataset = t.run, t.dataset
        best_dir = t.run_dir / "best"
        best_uri = directory_uri(best_dir)
        if self.dist.is_main:
            if not best_dir.is_dir():
                raise TrainingFailed(
                    "no checkpoint was saved: training ended before its first evaluation"
                )
            best_uri = self._publish(best_dir, t.spec)
        self.dist.barrier()  # no rank leaves before rank 0 has written and published
        return JobResults(
            best_checkpoint_uri=best_uri,
            best_f1=max(0.0, run.best_f1),
            best_epoch=run.best_epoch,
            epochs_run=len(run.history),
            stopped_early=stopped_early,
            dataset=DatasetLineage(
                source=dataset.source,
                content_hash=dataset.content_hash,
                receipts=dataset.stats.receipts,
                words=dataset.stats.words,
                train_receipts=len(dataset.train),
                validation_receipts=len(dataset.validation),
                label_counts=dataset.stats.training_label_counts,
            ),
            extra={
                "run_dir": str(t.run_dir),
                "best_field_f1": next(
                    (h["field_f1"] for h in run.history if h["epoch"] == run.best_epoch), None
                ),
                "train_seconds": round(run.elapsed, 2),
                "global_steps": run.global_step,
            },
        )

    def _agree(self, cancelled: bool = False) -> tuple[bool, bool]:
        """(cancelled, stop): with several ranks, whether any rank saw it, so that every
        rank stops at the same step (a rank that stopped alone would hang the others)."""
        stop = bool(self._stop_signal)
        if not self.dist.enabled:
            return cancelled, stop
        cancelled, stop = self.dist.any(cancelled, stop)
        if stop and not self._stop_signal:
            self._stop_signal = "a signal to another rank"
        return cancelled, stop

    def _evaluate(
        self, t: _Training, epoch: int, losses: list[float]
    ) -> tuple[Evaluation, float | None]:
        """Scores on the validation split. With several ranks each predicts a shard, rank 0
        scores the gathered predictions once, and every rank gets rank 0's result."""
        predicted, loss = self._predict(t)
        losses = [x for per_rank in self.dist.gather(losses) for x in per_rank]
        scored: tuple[Evaluation, float | None] | None = None
        if self.dist.is_main:
            truth = [list(r.tags) for r in t.dataset.validation]
            guessed = [[w.tag for w in words] for words in predicted]
            precision, recall, f1, per_label = entity_scores(truth, guessed)
            evaluation = Evaluation(
                epoch=epoch,
                global_step=t.run.global_step,
                f1=f1,
                precision=precision,
                recall=recall,
                loss=loss,
                train_loss=sum(losses) / len(losses) if losses else None,
                learning_rate=t.scheduler.get_last_lr()[0],
                per_label=per_label,
                elapsed_seconds=time.perf_counter() - t.started,
                confusion=word_confusion(truth, guessed),
            )
            scored = (evaluation, _field_f1(t.dataset.validation, predicted))
        scored = self.dist.broadcast(scored)
        assert scored is not None
        return scored

    def _predict(self, t: _Training) -> tuple[list[list[WordPrediction]], float | None]:
        """Every validation receipt's predicted words (in order) and the mean loss over all
        supervised tokens, each rank predicting every world_size-th receipt."""
        mine = range(self.dist.rank, len(t.dataset.validation), self.dist.world_size)
        receipts = [t.dataset.validation[i] for i in mine]
        window = t.spec.config.model
        result = predict(
            t.model,
            t.tokenizer,
            receipts,
            max_length=window.max_seq_length,
            stride=window.stride,
            tag_ids=t.tag_ids,
        )
        if not self.dist.enabled:
            return result.words, result.loss
        shard = (mine, result.words, result.loss, result.supervised_tokens)
        guessed: list[list[WordPrediction]] = [[] for _ in t.dataset.validation]
        loss_sum, loss_tokens = 0.0, 0
        for indices, tags, loss, count in self.dist.gather(shard):
            for index, receipt_tags in zip(indices, tags, strict=True):
                guessed[index] = receipt_tags
            if loss is not None:
                loss_sum += loss * count
                loss_tokens += count
        return guessed, (loss_sum / loss_tokens if loss_tokens else None)

    def _model_and_tokenizer(
        self, spec: TrainingSpec, dataset: PreparedDataset, tags: list[str], resume_dir: Path | None
    ) -> tuple[LayoutLMForTokenClassification, PreTrainedTokenizerFast]:
        model_config = spec.config.model
        try:
            if resume_dir is not None:
                source = PretrainedSource(resume_dir, "layoutlm")
                return load_model(source, tags), load_tokenizer(resume_dir)
            if model_config.pretrained:
                source = resolve_pretrained(model_config.pretrained)
                model = load_model(source, tags)
                return model, load_tokenizer(source.directory)
        except (NotAModel, FileNotFoundError, ValueError, OSError) as error:
            raise TrainingFailed(str(error)) from None
        texts = [text for receipt in dataset.train for text in receipt.texts]
        tokenizer = train_tokenizer(
            texts, vocab_size=8000 if model_config.model_size == "base" else 4000
        )
        model = build_model(
            model_config.model_size, tags, tokenizer.vocab_size, model_config.max_seq_length
        )
        return model, tokenizer

    def _resume_dir(self, spec: TrainingSpec) -> Path | None:
        if not spec.resume_from_uri:
            return None
        uri = ArtifactURI.parse(spec.resume_from_uri)
        if uri.scheme == "file":
            directory = Path("/" + uri.key.rstrip("/"))
        else:
            directory = self.output_dir / spec.job_name / "resume"
            if self.dist.is_main:  # the others read rank 0's download (one machine)
                if self.artifacts is None:
                    raise TrainingFailed(f"cannot fetch {spec.resume_from_uri}: no artifact store")
                self.artifacts.download_dir(str(uri.as_prefix()), directory)
            self.dist.barrier()
        if not (directory / "config.json").is_file():
            raise TrainingFailed(
                f"resume checkpoint {spec.resume_from_uri} is not a model directory"
            )
        return directory

    def _publish(self, best_dir: Path, spec: TrainingSpec) -> str:
        """The best checkpoint's URI, uploaded to the artifact store when it lives elsewhere."""
        if self.artifacts is None or self.runs_prefix is None:
            return directory_uri(best_dir)
        target = ArtifactURI.parse(self.runs_prefix).join(spec.job_name, "best").as_prefix()
        if target.scheme == "file" and Path("/" + target.key.rstrip("/")) == best_dir.resolve():
            return str(target)
        self.artifacts.upload_dir(best_dir, str(target))
        return str(target)

    def _prune(self, run_dir: Path, keep: Path) -> None:
        for old in saved_checkpoints(run_dir)[: -self.keep_checkpoints]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)

    def _write_run_json(self, t: _Training) -> None:
        run = t.run
        payload = {
            "job_id": str(t.spec.job_id),
            "job_name": t.spec.job_name,
            "config": t.spec.config.model_dump(mode="json"),
            "tags": t.tags,
            "dataset": _dataset_record(t.dataset),
            "best": {"f1": run.best_f1, "epoch": run.best_epoch, "step": run.best_step},
            "history": run.history,
            "elapsed_seconds": round(run.elapsed, 2),
        }
        partial = t.run_dir / "run.json.partial"
        partial.write_text(json.dumps(payload, indent=2))
        partial.replace(t.run_dir / "run.json")

    def _autocast_dtype(self, mode: str) -> torch.dtype | None:
        """On a GPU, `auto` is bf16 where supported, else fp16. On a CPU only an explicit
        `bf16` autocasts (fast where the CPU has bf16 matrix units: AMX, AVX512-BF16);
        `auto` and `fp16` stay fp32 there."""
        if mode == "no":
            return None
        if self.device.type != "cuda":
            return torch.bfloat16 if mode == "bf16" and self.device.type == "cpu" else None
        if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
            return torch.bfloat16
        return torch.float16

    @contextmanager
    def _signals(self) -> Iterator[None]:
        def on_signal(number: int, _: FrameType | None) -> None:
            if self._stop_signal:  # a second signal stops at once
                signal.signal(number, previous[signal.Signals(number)])
                raise KeyboardInterrupt
            self._stop_signal = signal.Signals(number).name

        previous: dict[signal.Signals, Any] = {}
        # signal handlers can only be set from the main thread
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _dataset_record(dataset: PreparedDataset) -> dict[str, Any]:
    return {
        "source": dataset.source,
        "content_hash": dataset.content_hash,
        **dataset.stats.model_dump(),
    }


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
    )


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _field_f1(
    receipts: tuple[LabelledReceipt, ...], guessed: list[list[WordPrediction]]
) -> float | None:
    scored = [(r, g) for r, g in zip(receipts, guessed, strict=True) if r.fields]
    if not scored:
        return None
    predicted = [extract_fields(predicted_words(r, g)) for r, g in scored]
    truth = [r.fields for r, _ in scored]
    return score_fields(predicted, truth).f1
