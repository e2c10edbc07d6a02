"""The in-process LayoutLM trainer: a TrainingBackend on torch and transformers."""

from __future__ import annotations

import json
import math
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    read_state,
    restore_training_state,
    save_checkpoint,
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


class _NoProgress:
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
        self.progress: TrainingProgress = progress or _NoProgress()
        self.keep_checkpoints = max(1, keep_checkpoints)
        self.handle_signals = handle_signals
        if device is None and self.dist.enabled:
            self.device = self.dist.device()
        else:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.stop_after_steps = stop_after_steps
        self._stop_signal: str | None = None
        self._max_length = 512
        self._stride = 128

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        if not self.dist.is_main:
            reporter = SilentReporter()
            self.progress = _NoProgress()
        with self._signals():
            try:
                return self._train(spec, reporter)
            finally:
                self.progress.stop()

    def request_stop(self, reason: str = "stop requested") -> None:
        self._stop_signal = reason

    def _train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        config = spec.config
        hp = config.hyperparameters
        run_dir = self.output_dir / spec.job_name
        main = self.dist.is_main
        if main:
            run_dir.mkdir(parents=True, exist_ok=True)
        dataset = self.load_dataset(spec if main else _without_side_effects(spec), reporter)
        tags = list(dataset.tags)
        tag_ids = {tag: i for i, tag in enumerate(tags)}
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
        forward: torch.nn.Module = ddp if ddp is not None else model
        reporter.run_config(
            {
                "config": config.model_dump(mode="json"),
                "backend": self.name,
                "device": str(self.device),
                "world_size": self.dist.world_size,
                "parameters": sum(p.numel() for p in model.parameters()),
                "vocab_size": tokenizer.vocab_size,
                "tags": tags,
                "dataset": {
                    "source": dataset.source,
                    "content_hash": dataset.content_hash,
                    **dataset.stats.model_dump(),
                    "outside_to_entity": dataset.stats.outside_to_entity,
                },
                "train": dataset.train_stats.model_dump(),
                "validation_receipts": len(dataset.validation),
                "resumed_from": str(resume_dir) if resume_dir else None,
            }
        )
        max_length = self._max_length = config.model.max_seq_length
        stride = self._stride = config.model.stride
        examples: list[Encoded] = []
        for index, receipt in enumerate(dataset.train):
            examples += encode_receipt(index, receipt, tokenizer, tag_ids, max_length, stride)
        if not examples:
            raise TrainingFailed("empty training set: no receipt produced a window")
        lengths = [len(e) for e in examples]

        optimizer = _adamw(model, hp.learning_rate, hp.weight_decay)
        batches_per_epoch = self.dist.shard_count(math.ceil(len(examples) / hp.batch_size))
        steps_per_epoch = math.ceil(batches_per_epoch / hp.gradient_accumulation_steps)
        total_steps = steps_per_epoch * hp.epochs
        warmup = int(total_steps * hp.warmup_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _linear_schedule(warmup, total_steps)
        )
        run = _RunState()
        if resume_dir is not None:
            restore_training_state(resume_dir, optimizer, scheduler)
            run = _RunState(**read_state(resume_dir)["run"])
            reporter.log(
                f"resumed at epoch {run.epoch}, step {run.global_step}",
                resumed_from=str(resume_dir),
            )

        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=hp.label_smoothing)
        autocast_dtype = self._autocast_dtype(hp.mixed_precision)
        scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 else None
        self.progress.start(total_steps, run.global_step)
        started = time.perf_counter() - run.elapsed
        stopped_early = False
        for epoch in range(run.epoch, hp.epochs + 1):
            run.epoch = epoch
            plan = self.dist.shard(plan_batches(lengths, hp.batch_size, hp.seed, epoch))
            first_batch = run.next_batch
            loader: DataLoader[Encoded] = DataLoader(
                examples,  # type: ignore[arg-type]
                batch_sampler=plan[first_batch:],
                collate_fn=partial(collate, pad_id=tokenizer.pad_token_id),
                num_workers=hp.num_workers,
                pin_memory=self.device.type == "cuda",
                # its own generator: drawing its seed from the global RNG would shift the
                # dropout masks of a resumed epoch
                generator=torch.Generator().manual_seed(hp.seed + epoch),
            )
            forward.train()
            losses: list[float] = []
            optimizer.zero_grad(set_to_none=True)
            for offset, cpu_batch in enumerate(loader):
                batch_index = first_batch + offset
                batch = {k: v.to(self.device, non_blocking=True) for k, v in cpu_batch.items()}
                with torch.autocast(
                    self.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None
                ):
                    logits = forward(
                        input_ids=batch["input_ids"],
                        bbox=batch["bbox"],
                        attention_mask=batch["attention_mask"],
                    ).logits
                    loss = loss_fn(logits.float().view(-1, len(tags)), batch["labels"].view(-1))
                if not torch.isfinite(loss):
                    raise TrainingFailed(
                        f"loss became {float(loss.detach())} at epoch {epoch},"
                        f" step {run.global_step}:"
                        " lower the learning rate or check the data"
                    )
                scaled = loss / hp.gradient_accumulation_steps
                at_boundary = (
                    batch_index + 1
                ) % hp.gradient_accumulation_steps == 0 or batch_index + 1 == len(plan)
                # between optimizer steps DDP need not all-reduce the gradients
                with ddp.no_sync() if ddp is not None and not at_boundary else _nothing():
                    (scaler.scale(scaled) if scaler else scaled).backward()
                losses.append(float(loss.detach()))
                if not at_boundary:
                    continue
                if scaler:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                run.global_step += 1
                run.next_batch = batch_index + 1
                self.progress.step(losses[-1], epoch)
                cancelled = run.global_step % 20 == 0 and reporter.cancelled()
                if self.stop_after_steps is not None and run.global_step >= self.stop_after_steps:
                    self._stop_signal = f"stopped after {run.global_step} steps"
                cancelled, stop = self._agree(cancelled)
                if cancelled:
                    raise TrainingCancelled
                if stop and run.next_batch < len(plan):
                    run.elapsed = time.perf_counter() - started
                    path = run_dir / f"checkpoint-{run.global_step}"
                    if main:
                        save_checkpoint(
                            path, model, tokenizer, self._state(spec, run), optimizer, scheduler
                        )
                    self.dist.barrier()
                    raise TrainingInterrupted(
                        self._uri(path), f"interrupted by {self._stop_signal}"
                    )
            run.next_batch = 0
            evaluation, field_f1 = self._evaluate(
                model, tokenizer, dataset, tag_ids, epoch, run, losses, scheduler, started
            )
            reporter.evaluation(evaluation)
            improved = (
                run.best_epoch == 0 or evaluation.f1 > run.best_f1 + hp.early_stopping_threshold
            )
            if improved:
                run.best_f1, run.best_epoch, run.best_step, run.since_best = (
                    evaluation.f1,
                    epoch,
                    run.global_step,
                    0,
                )
            else:
                run.since_best += 1
            run.history.append({**evaluation.model_dump(mode="json"), "field_f1": field_f1})
            run.epoch = epoch + 1
            run.elapsed = time.perf_counter() - started
            checkpoint = run_dir / f"checkpoint-{run.global_step}"
            if main:
                save_checkpoint(
                    checkpoint, model, tokenizer, self._state(spec, run), optimizer, scheduler
                )
                if improved:
                    copy_checkpoint(checkpoint, run_dir / "best")
                self._prune(run_dir, keep=checkpoint)
                self._write_run_json(run_dir, spec, dataset, run, tags)
            self.progress.epoch(evaluation, field_f1, improved)
            if (
                hp.early_stopping_patience
                and run.since_best >= hp.early_stopping_patience
                and epoch < hp.epochs
            ):
                stopped_early = True
                reporter.log(
                    f"early stop after epoch {epoch}: no F1 gain above"
                    f" {hp.early_stopping_threshold} for {run.since_best} epoch(s)",
                )
                break
            if self._agree()[1]:
                raise TrainingInterrupted(
                    self._uri(checkpoint), f"interrupted by {self._stop_signal}"
                )
        best_dir = run_dir / "best"
        best_uri = self._uri(best_dir)
        if main:
            if not best_dir.is_dir():
                raise TrainingFailed(
                    "no checkpoint was saved: training ended before its first evaluation"
                )
            best_uri = self._publish(best_dir, spec)
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
                "run_dir": str(run_dir),
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
        self,
        model: LayoutLMForTokenClassification,
        tokenizer: PreTrainedTokenizerFast,
        dataset: PreparedDataset,
        tag_ids: dict[str, int],
        epoch: int,
        run: _RunState,
        losses: list[float],
        scheduler: torch.optim.lr_scheduler.LambdaLR,
        started: float,
    ) -> tuple[Evaluation, float | None]:
        """Scores on the validation split. With several ranks each predicts a shard, rank 0
        scores the gathered predictions once, and every rank gets rank 0's result."""
        if self.dist.enabled:
            predicted, loss = self._predict_sharded(model, tokenizer, dataset, tag_ids)
            losses = [x for per_rank in self.dist.gather(losses) for x in per_rank]
        else:
            result = predict(
                model,
                tokenizer,
                dataset.validation,
                max_length=self._max_length,
                stride=self._stride,
                tag_ids=tag_ids,
            )
            predicted, loss = result.words, result.loss
        scored: tuple[str, float | None] | None = None
        if self.dist.is_main:
            truth = [list(r.tags) for r in dataset.validation]
            guessed = [[w.tag for w in words] for words in predicted]
            precision, recall, f1, per_label = entity_scores(truth, guessed)
            field_f1 = _field_f1(dataset.validation, predicted)
            evaluation = Evaluation(
                epoch=epoch,
                global_step=run.global_step,
                f1=f1,
                precision=precision,
                recall=recall,
                loss=loss,
                train_loss=sum(losses) / len(losses) if losses else None,
                learning_rate=scheduler.get_last_lr()[0],
                per_label=per_label,
                elapsed_seconds=time.perf_counter() - started,
                confusion=word_confusion(truth, guessed),
            )
            if not self.dist.enabled:
                return evaluation, field_f1
            scored = (evaluation.model_dump_json(), field_f1)
        scored = self.dist.broadcast(scored)
        assert scored is not None
        return Evaluation.model_validate_json(scored[0]), scored[1]

    def _predict_sharded(
        self,
        model: LayoutLMForTokenClassification,
        tokenizer: PreTrainedTokenizerFast,
        dataset: PreparedDataset,
        tag_ids: dict[str, int],
    ) -> tuple[list[list[WordPrediction]], float | None]:
        """Every validation receipt's predicted words (in order) and the mean loss over all
        supervised tokens, each rank predicting every world_size-th receipt."""
        world, rank = self.dist.world_size, self.dist.rank
        mine = list(range(rank, len(dataset.validation), world))
        receipts = [dataset.validation[i] for i in mine]
        result = predict(
            model,
            tokenizer,
            receipts,
            max_length=self._max_length,
            stride=self._stride,
            tag_ids=tag_ids,
        )
        tokens = sum(
            sum(1 for label in window.labels if label != IGNORE)
            for index, receipt in enumerate(receipts)
            for window in encode_receipt(
                index, receipt, tokenizer, tag_ids, self._max_length, self._stride
            )
        )
        shard = (mine, result.words, result.loss, tokens)
        guessed: list[list[WordPrediction]] = [[] for _ in dataset.validation]
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
            return self._uri(best_dir)
        target = ArtifactURI.parse(self.runs_prefix).join(spec.job_name, "best").as_prefix()
        if target.scheme == "file" and Path("/" + target.key.rstrip("/")) == best_dir.resolve():
            return str(target)
        self.artifacts.upload_dir(best_dir, str(target))
        return str(target)

    @staticmethod
    def _state(spec: TrainingSpec, run: _RunState) -> dict[str, Any]:
        return {
            "run": vars(run),
            "job_name": spec.job_name,
            "config": spec.config.model_dump(mode="json"),
        }

    @staticmethod
    def _uri(path: Path) -> str:
        return path.resolve().as_uri() + "/"

    def _prune(self, run_dir: Path, keep: Path) -> None:
        checkpoints = sorted(
            (
                p
                for p in run_dir.glob("checkpoint-*")
                if p.is_dir() and not p.name.endswith(".partial")
            ),
            key=lambda p: int(p.name.split("-")[1]) if p.name.split("-")[1].isdigit() else -1,
        )
        for old in checkpoints[: -self.keep_checkpoints]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)

    def _write_run_json(
        self,
        run_dir: Path,
        spec: TrainingSpec,
        dataset: PreparedDataset,
        run: _RunState,
        tags: list[str],
    ) -> None:
        payload = {
            "job_id": str(spec.job_id),
            "job_name": spec.job_name,
            "config": spec.config.model_dump(mode="json"),
            "tags": tags,
            "dataset": {
                "source": dataset.source,
                "content_hash": dataset.content_hash,
                **dataset.stats.model_dump(),
            },
            "best": {"f1": run.best_f1, "epoch": run.best_epoch, "step": run.best_step},
            "history": run.history,
            "elapsed_seconds": round(run.elapsed, 2),
        }
        partial = run_dir / "run.json.partial"
        partial.write_text(json.dumps(payload, indent=2))
        partial.replace(run_dir / "run.json")

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
        if not self.handle_signals:
            yield
            return
        try:
            previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:
            yield
            return

        def on_signal(number: int, _: FrameType | None) -> None:
            if self._stop_signal:  # a second signal stops at once
                signal.signal(number, previous[signal.Signals(number)])
                raise KeyboardInterrupt
            self._stop_signal = signal.Signals(number).name

        try:
            for sig in previous:
                signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            yield
            return
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _without_side_effects(spec: TrainingSpec) -> TrainingSpec:
    """The spec as ranks other than 0 load their data: without saving a snapshot."""
    data = spec.config.data.model_copy(update={"dataset_snapshot_save": None})
    return spec.model_copy(update={"config": spec.config.model_copy(update={"data": data})})


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
