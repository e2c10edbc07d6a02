"""Per-receipt latency of OCR and of inference on WildReceipt dev: ours vs the seeds' approach.

    .venv/bin/python bench/inference.py                          # base, all 222 dev receipts
    .venv/bin/python bench/inference.py --size tiny --limit 8    # quick look

OCR: `TesseractEngine` on every dev image (what the OCR worker runs), p50/p95/mean ms and
words per image. Inference: one receipt at a time (the worker's case), the same model
weights and the same receipts for every approach, timed from the receipt's words to one
label per word (tokenizing, tensors, forward, soft-max, arg-max):

- **seeds** — the seeds' `LayoutLMInference` re-implemented: the words tokenized with
  `is_split_into_words`, padded to 512 and truncated at 512, `model(...)` in eager fp32
  torch at batch 1 under `torch.inference_mode`, the first subtoken's arg-max per word
  (words cut off by the truncation get O). Two rows: with transformers' default attention
  (SDPA; the baseline the target is judged against) and with the eager attention the
  seed system had (transformers 4.40's LayoutLM had no other).
- **ours** — `TorchPredictor` fp32 (what `load_predictor` gives a worker by default),
  `TorchPredictor` bf16 autocast, `TorchPredictor` dynamic int8, and
  `ONNXBundlePredictor` on bundles built with the exporter's own steps (`export_graph`,
  `quantize_graph`, `write_metadata_files`; the exporter's parity checks skipped, agreement
  is measured here instead).

Worker: the real OCR worker (`application/ocr/ocr_worker.py`, built as `receipts ocr-worker`
builds it, on a memory runtime) drains `--worker-receipts` queued dev images one job at a
time: receipts/min measured, beside an ESTIMATE from this bench's OCR + inference p50s.

The model is built from `--size` with random weights, the MiniLM uncased vocabulary
(30,522 tokens) and WildReceipt's tags, unless `--checkpoint DIR` names a trained one.
Latency does not depend on the weights; label agreement does (random weights give
near-uniform logits, so their agreement understates what a trained model keeps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import torch
from transformers import LayoutLMForTokenClassification, PreTrainedTokenizerFast
from transformers.utils import logging as transformers_logging

from machine import cpu_pressure
from receipts.adapters.export_bundle.checkpoint import inspect_checkpoint
from receipts.adapters.export_bundle.writer import write_metadata_files
from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.onnx.graph_export import export_graph
from receipts.adapters.onnx.predictor import ONNXBundlePredictor
from receipts.adapters.onnx.quantization import quantize_graph
from receipts.adapters.onnx.runtime import MODEL_FILE
from receipts.adapters.tesseract.engine import TesseractEngine
from receipts.adapters.torch.encoding import CLS_BOX, SEP_BOX
from receipts.adapters.torch.export_model import load_for_export
from receipts.adapters.torch.models import build_model, minilm_directory, model_tags
from receipts.adapters.torch.predictor import TorchPredictor
from receipts.application.ports.predictor import Predictor
from receipts.bootstrap import bootstrap
from receipts.bootstrap.inference import Precision
from receipts.bootstrap.ocr import build_ocr_worker, model_cache
from receipts.domain.labels import OUTSIDE
from receipts.domain.quantization import Quantization
from receipts.domain.receipt import Receipt
from receipts.settings import Settings

TARGET_SPEEDUP = 5.0
SEED_LENGTH = 512
DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "wildreceipt" / "dev.jsonl"
)
ONNX_MODES = ("fp32", "float16", "int8", "int4")
WORKER_PRECISION: dict[str, Precision] = {"torch-int8": "int8", "torch-bf16": "bfloat16"}
REFERENCE = "ours: torch fp32"
BASELINE = "seeds: pad 512, fp32, SDPA"
BASELINE_EAGER = "seeds as run: pad 512, fp32, eager attention"
Labeller = Callable[[Receipt], list[str]]


@dataclass
class Latency:
    p50_ms: float
    p95_ms: float
    mean_ms: float
    n: int

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        ordered = sorted(samples_ms)
        return cls(
            p50_ms=statistics.median(ordered),
            p95_ms=percentile(ordered, 95),
            mean_ms=statistics.fmean(ordered),
            n=len(ordered),
        )


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Row:
    name: str
    latency: Latency
    speedup_mean: float = 0.0
    """Seeds (SDPA) mean ms / this row's mean ms."""
    speedup_p50: float = 0.0
    speedup_mean_eager: float = 0.0
    """Seeds as run (eager attention) mean ms / this row's mean ms."""
    speedup_p50_eager: float = 0.0
    agreement: float | None = None
    """Share of words labelled as `ours: torch fp32` labels them."""
    batched_receipts_per_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def speedup_vs_faster_seeds(self) -> float:
        """The ratio of means against the faster of the two seeds rows (the target's)."""
        return min(self.speedup_mean, self.speedup_mean_eager)


# --- the seeds' approach --------------------------------------------------------------------


class SeedsInference:
    """The seeds' LayoutLMInference: every receipt padded to 512, eager fp32 torch, batch 1."""

    def __init__(
        self, model: LayoutLMForTokenClassification, tokenizer: PreTrainedTokenizerFast
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.tags = model_tags(model)
        self.truncated: dict[str, int] = {}
        """Words cut off by the truncation at 512, by receipt id."""

    def labels(self, receipt: Receipt) -> list[str]:
        texts = [w.text for w in receipt.words]
        if not texts:
            return []
        boxes = [w.box.normalized(receipt.width, receipt.height)[0] for w in receipt.words]
        encoding = self.tokenizer(
            texts,
            is_split_into_words=True,
            truncation=True,
            max_length=SEED_LENGTH,
            padding="max_length",
            return_tensors="pt",
        )
        word_ids = encoding.word_ids(0)
        sep = self.tokenizer.sep_token_id
        # LayoutLM's recipe: words keep their box, [SEP] the full page, [CLS] and padding 0
        bbox = torch.tensor(
            [
                [
                    boxes[w] if w is not None else SEP_BOX if token == sep else CLS_BOX
                    for w, token in zip(word_ids, encoding["input_ids"][0].tolist(), strict=True)
                ]
            ],
            dtype=torch.long,
        )
        with torch.inference_mode():
            logits = self.model(
                input_ids=encoding["input_ids"],
                bbox=bbox,
                attention_mask=encoding["attention_mask"],
                token_type_ids=encoding["token_type_ids"],
            ).logits
        _confidence, best = logits.softmax(-1)[0].max(-1)  # the seeds returned both
        first_token: dict[int, int] = {}
        for position, word in enumerate(word_ids):
            if word is not None and word not in first_token:
                first_token[word] = position
        self.truncated[receipt.receipt_id] = len(texts) - len(first_token)
        best_ids = best.tolist()
        return [
            bare(self.tags[best_ids[first_token[i]]]) if i in first_token else OUTSIDE
            for i in range(len(texts))
        ]


def bare(tag: str) -> str:
    return tag.split("-", 1)[1] if tag[:2] in ("B-", "I-") else tag


def predictor_labels(predictor: Predictor) -> Labeller:
    def run(receipt: Receipt) -> list[str]:
        return [w.label for w in predictor.predict([receipt])[0].words]

    return run


# --- models -----------------------------------------------------------------------------------


def wildreceipt_tags(receipts: Sequence[Receipt]) -> list[str]:
    labels = sorted({w.label for r in receipts for w in r.words} - {OUTSIDE})
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in "BI"]


def write_checkpoint(size: str, tags: list[str], directory: Path) -> Path:
    """A checkpoint TorchPredictor loads: random weights, MiniLM's uncased vocabulary."""
    vocab = minilm_directory() / "vocab.txt"
    vocab_size = sum(1 for _ in vocab.open(encoding="utf-8"))
    torch.manual_seed(0)
    model = build_model(size, tags, vocab_size, max_positions=SEED_LENGTH)
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "vocab.txt").write_bytes(vocab.read_bytes())
    return directory


def onnx_bundles(checkpoint: Path, modes: Sequence[str], root: Path) -> dict[str, Path]:
    """One bundle directory per mode, made with the ONNX exporter's own steps."""
    if not modes:
        return {}
    metadata = inspect_checkpoint(checkpoint)
    fp32 = root / "fp32.onnx"
    export_graph(load_for_export(checkpoint), fp32)
    bundles = {}
    for mode in modes:
        bundle = root / f"onnx-{mode}"
        bundle.mkdir()
        write_metadata_files(bundle, metadata)
        if mode == "fp32":
            (bundle / MODEL_FILE).write_bytes(fp32.read_bytes())
        else:
            quantize_graph(fp32, bundle / MODEL_FILE, Quantization(mode))
        bundles[mode] = bundle
    return bundles


# --- OCR ----------------------------------------------------------------------------------------


@dataclass
class OCRFigures:
    latency: Latency
    words_per_image_mean: float
    words_per_image_p50: float
    failures: int


def ocr_receipts(receipts: Sequence[Receipt], data_dir: Path) -> tuple[OCRFigures, list[Receipt]]:
    """Tesseract on every receipt's image (one untimed warm-up first): figures, and the
    OCR'd receipts (same ids) for `--words ocr`."""
    engine = TesseractEngine()
    images = [data_dir / r.image for r in receipts if r.image]
    if not images:
        raise SystemExit("no receipt names an image: run with --skip-ocr")
    engine.recognize(images[0])
    times: list[float] = []
    words: list[int] = []
    recognised: list[Receipt] = []
    failures = 0
    for receipt in receipts:
        if not receipt.image:
            continue
        started = time.perf_counter()
        try:
            result = engine.recognize(data_dir / receipt.image)
        except Exception as error:  # OCRFailed and whatever Pillow raises for a bad file
            failures += 1
            print(f"  OCR failed on {receipt.image}: {error}", file=sys.stderr)
            continue
        times.append((time.perf_counter() - started) * 1000)
        words.append(len(result.words))
        recognised.append(result.to_receipt(receipt.receipt_id, image=receipt.image))
    if not times:
        raise SystemExit("OCR failed on every image")
    figures = OCRFigures(
        latency=Latency.of(times),
        words_per_image_mean=statistics.fmean(words),
        words_per_image_p50=statistics.median(words),
        failures=failures,
    )
    return figures, recognised


# --- timing -------------------------------------------------------------------------------------


def time_one_at_a_time(
    approaches: dict[str, Labeller], receipts: Sequence[Receipt], warmup: int
) -> tuple[dict[str, list[float]], dict[str, list[list[str]]]]:
    """Each receipt through every approach, the order rotated per receipt so all see the
    same contention; the first `warmup` receipts run once through each, untimed."""
    for receipt in receipts[:warmup]:
        for run in approaches.values():
            run(receipt)
    names = list(approaches)
    times: dict[str, list[float]] = {name: [] for name in names}
    labels: dict[str, list[list[str]]] = {name: [[] for _ in receipts] for name in names}
    for index, receipt in enumerate(receipts):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            result = approaches[name](receipt)
            times[name].append((time.perf_counter() - started) * 1000)
            labels[name][index] = result
        if (index + 1) % 25 == 0:
            print(f"  {index + 1}/{len(receipts)} receipts", flush=True)
    return times, labels


def agreement(ours: Sequence[Sequence[str]], other: Sequence[Sequence[str]]) -> float:
    same = total = 0
    for a, b in zip(ours, other, strict=True):
        same += sum(x == y for x, y in zip(a, b, strict=True))
        total += len(a)
    return same / total if total else 1.0


def batched_throughput(predictor: Predictor, receipts: Sequence[Receipt]) -> float:
    """Receipts/s of one `predict` call on all receipts (its length-sorted batches)."""
    predictor.predict(list(receipts[:4]))  # warm-up
    started = time.perf_counter()
    predictor.predict(list(receipts))
    return len(receipts) / (time.perf_counter() - started)


# --- the worker ---------------------------------------------------------------------------------


@dataclass
class WorkerFigures:
    kind: str
    predictor: str
    receipts: int
    completed: int
    failed: int
    seconds: float
    receipts_per_min: float
    ocr_p50_ms: float
    inference_p50_ms: float
    """The worker's own per-job timings (OCROutcome.ocr_seconds / inference_seconds)."""


def worker_throughput(
    images: Sequence[Path], model_dir: Path, predictor: str, threads: int
) -> WorkerFigures:
    """Receipts/min of the real OCR worker (`application/ocr/ocr_worker.py`, built as
    `receipts ocr-worker` builds it) on a memory runtime: every image uploaded and submitted
    as an OCR job first (not timed), then `serve(continuous=True)` drains the queue: the
    download, Tesseract, LayoutLM, fields, routing, result uploads, the word-label record and
    the job's events, one job at a time. One job runs first, untimed, to load the model."""
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as home:
        runtime = bootstrap(Settings(mode="memory", home=Path(home)))
        models = model_cache(
            runtime,
            str(model_dir),
            predictor_runtime="onnx" if predictor.startswith("onnx") else "torch",
            quantize=WORKER_PRECISION.get(predictor, "float32"),
            threads=threads,
        )
        worker = build_ocr_worker(runtime, models=models, log=QuietLog(), worker_name="bench")

        def submit(image: Path) -> UUID:
            job_id = uuid4()
            uri = runtime.artifacts_uri(f"raw-receipts/{job_id}{image.suffix.lower()}")
            runtime.artifacts.upload_file(image, uri)
            return runtime.ocr_jobs.submit(
                uri, ocr_job_id=job_id, ocr_engine="tesseract", submitted_by="bench"
            )

        submit(images[0])
        worker.serve(continuous=True)  # warm-up: loads the model, first Tesseract run
        job_ids = [submit(image) for image in images]
        started = time.perf_counter()
        handled = worker.serve(continuous=True)
        seconds = time.perf_counter() - started
        outcomes = [runtime.ocr_jobs.get_ocr_job(job_id).outcome for job_id in job_ids]
        done = [o for o in outcomes if o is not None]
        return WorkerFigures(
            kind="measured: the OCR worker draining an in-memory queue, one job at a time",
            predictor=predictor,
            receipts=len(images),
            completed=handled.count("completed"),
            failed=handled.count("failed"),
            seconds=seconds,
            receipts_per_min=len(handled) / seconds * 60,
            ocr_p50_ms=statistics.median(o.ocr_seconds * 1000 for o in done) if done else 0.0,
            inference_p50_ms=(
                statistics.median(o.inference_seconds * 1000 for o in done) if done else 0.0
            ),
        )


class QuietLog:
    """A WorkerLog that prints only warnings and errors (failed jobs say why)."""

    def info(self, event: str, **fields: Any) -> None:
        pass

    def warning(self, event: str, **fields: Any) -> None:
        print(f"  worker: {event} {fields}", file=sys.stderr)

    def error(self, event: str, **fields: Any) -> None:
        print(f"  worker: {event} {fields}", file=sys.stderr)


def estimated_worker_throughput(ocr: Latency, inference: Latency) -> dict[str, float]:
    """ESTIMATE beside the measured figure: 60,000 / (OCR ms + inference ms) from this
    bench's p50s and means, one receipt at a time, no queue, store or event I/O."""
    return {
        "receipts_per_min_p50": 60_000 / (ocr.p50_ms + inference.p50_ms),
        "receipts_per_min_mean": 60_000 / (ocr.mean_ms + inference.mean_ms),
        "ocr_share_of_p50": ocr.p50_ms / (ocr.p50_ms + inference.p50_ms),
    }


# --- main ---------------------------------------------------------------------------------------


def token_counts(tokenizer: PreTrainedTokenizerFast, receipts: Sequence[Receipt]) -> list[int]:
    """Tokens per receipt with [CLS] and [SEP], before any window or truncation."""
    counts = []
    for receipt in receipts:
        texts = [w.text for w in receipt.words]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        counts.append(2 + sum(max(1, len(i)) for i in ids))
    return counts


def print_table(rows: Sequence[Row], target_applies: bool) -> None:
    print(
        "\n| approach | p50 ms | p95 ms | mean ms | x seeds SDPA, mean / p50"
        " | x seeds eager, mean / p50 | labels = ours fp32 | batched receipts/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        lat = row.latency
        agree = "—" if row.agreement is None else f"{row.agreement:.2%}"
        batched = "—" if row.batched_receipts_per_s is None else f"{row.batched_receipts_per_s:.1f}"
        verdict = ""
        if target_applies and row.name.startswith("ours"):
            verdict = " PASS" if row.speedup_vs_faster_seeds >= TARGET_SPEEDUP else " MISS"
        print(
            f"| {row.name} | {lat.p50_ms:.1f} | {lat.p95_ms:.1f} | {lat.mean_ms:.1f}"
            f" | {row.speedup_mean:.2f}x / {row.speedup_p50:.2f}x"
            f" | {row.speedup_mean_eager:.2f}x / {row.speedup_p50_eager:.2f}x{verdict}"
            f" | {agree} | {batched} |"
        )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "small", "base"), default="base")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a trained checkpoint (overrides --size)"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="WildReceipt JSONL")
    parser.add_argument("--limit", type=int, default=None, help="the first N receipts only")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch and ORT threads (default: torch's)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed receipts per approach")
    parser.add_argument("--skip-ocr", action="store_true", help="no Tesseract timings")
    parser.add_argument(
        "--words",
        choices=("dataset", "ocr"),
        default="dataset",
        help="the receipts inference reads: the dataset's words (default) or Tesseract's",
    )
    parser.add_argument(
        "--onnx",
        default="fp32,int8",
        help=f"comma-separated ONNX Runtime rows from {','.join(ONNX_MODES)} ('' for none)",
    )
    parser.add_argument("--no-batched", action="store_true", help="skip the batched figures")
    parser.add_argument(
        "--worker-receipts",
        type=int,
        default=50,
        help="images the real OCR worker drains for receipts/min (0: none; needs OCR)",
    )
    parser.add_argument(
        "--worker-predictor",
        default="torch-fp32",
        help="the worker's model: torch-fp32 (its default), torch-bf16, torch-int8 or onnx-MODE",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    args.onnx_modes = [m for m in args.onnx.split(",") if m]
    unknown = sorted(set(args.onnx_modes) - set(ONNX_MODES))
    if unknown:
        parser.error(f"unknown --onnx modes {unknown}; known: {', '.join(ONNX_MODES)}")
    known = ("torch-fp32", "torch-bf16", "torch-int8", *(f"onnx-{m}" for m in args.onnx_modes))
    if args.worker_predictor not in known:
        parser.error(f"--worker-predictor must be one of {', '.join(known)} (with --onnx)")
    if args.words == "ocr" and args.skip_ocr:
        parser.error("--words ocr needs the OCR step (drop --skip-ocr)")
    return args


@dataclass
class Approaches:
    labellers: dict[str, Labeller]
    predictors: dict[str, Predictor]
    seeds: SeedsInference
    reference: TorchPredictor
    description: str
    checkpoint: Path


def load_approaches(
    args: argparse.Namespace, tags: list[str], threads: int, root: Path
) -> Approaches:
    """Both seeds rows and every predictor, on the weights of one checkpoint."""
    if args.checkpoint is not None:
        checkpoint = args.checkpoint
        description = f"trained checkpoint {checkpoint}"
    else:
        checkpoint = write_checkpoint(args.size, tags, root / "checkpoint")
        description = f"{args.size}, RANDOM weights (latency only), MiniLM uncased vocabulary"
    ours = TorchPredictor(checkpoint, threads=threads)
    seeds = SeedsInference(ours.model, ours.tokenizer)  # the very same model object
    eager_model = LayoutLMForTokenClassification.from_pretrained(
        checkpoint, attn_implementation="eager"
    )
    eager_model.train(False)
    predictors: dict[str, Predictor] = {
        REFERENCE: ours,
        "ours: torch bf16 autocast": TorchPredictor(
            checkpoint, quantize="bfloat16", threads=threads
        ),
        "ours: torch int8 dynamic": TorchPredictor(checkpoint, quantize="int8", threads=threads),
    }
    for mode, bundle in onnx_bundles(checkpoint, args.onnx_modes, root).items():
        predictors[f"ours: onnxruntime {mode}"] = ONNXBundlePredictor(bundle, threads=threads)
    labellers: dict[str, Labeller] = {
        BASELINE: seeds.labels,
        BASELINE_EAGER: SeedsInference(eager_model, ours.tokenizer).labels,
    }
    labellers.update({name: predictor_labels(p) for name, p in predictors.items()})
    return Approaches(labellers, predictors, seeds, ours, description, checkpoint)


def inference_rows(
    approaches: Approaches, receipts: Sequence[Receipt], warmup: int, batched: bool
) -> list[Row]:
    times, labels = time_one_at_a_time(approaches.labellers, receipts, warmup)
    baseline = Latency.of(times[BASELINE])
    baseline_eager = Latency.of(times[BASELINE_EAGER])
    rows = []
    for name in approaches.labellers:
        latency = Latency.of(times[name])
        rows.append(
            Row(
                name=name,
                latency=latency,
                speedup_mean=baseline.mean_ms / latency.mean_ms,
                speedup_p50=baseline.p50_ms / latency.p50_ms,
                speedup_mean_eager=baseline_eager.mean_ms / latency.mean_ms,
                speedup_p50_eager=baseline_eager.p50_ms / latency.p50_ms,
                agreement=agreement(labels[REFERENCE], labels[name]),
            )
        )
    if batched:
        print("batched: each predictor on all receipts at once ...", flush=True)
        by_name = {row.name: row for row in rows}
        for name, predictor in approaches.predictors.items():
            by_name[name].batched_receipts_per_s = batched_throughput(predictor, receipts)
        for name in (BASELINE, BASELINE_EAGER):
            by_name[name].batched_receipts_per_s = 1000 / by_name[name].latency.mean_ms
            by_name[name].notes.append("no batching in the seeds: 1000 / mean ms")
    return rows


def print_estimates(ocr: OCRFigures, rows: Sequence[Row]) -> dict[str, dict[str, float]]:
    """Estimated receipts/min with the default predictor and with the fastest of ours."""
    by_name = {row.name: row for row in rows}
    fastest = min((r for r in rows if r.name.startswith("ours")), key=lambda r: r.latency.p50_ms)
    figures = {}
    for row in [by_name[REFERENCE]] + ([fastest] if fastest.name != REFERENCE else []):
        estimate = estimated_worker_throughput(ocr.latency, row.latency)
        figures[row.name] = estimate
        print(
            f"ESTIMATED worker receipts/min, Tesseract + {row.name} (60000 / (OCR ms +"
            f" inference ms), no I/O): {estimate['receipts_per_min_p50']:.1f} from p50s,"
            f" {estimate['receipts_per_min_mean']:.1f} from means;"
            f" OCR is {estimate['ocr_share_of_p50']:.0%} of the p50 time"
        )
    return figures


def worker_model(approaches: Approaches, predictor: str, root: Path) -> Path:
    if predictor.startswith("onnx-"):
        bundle = root / predictor
        if not bundle.is_dir():
            raise SystemExit(f"--worker-predictor {predictor} needs its mode in --onnx")
        return bundle
    return approaches.checkpoint


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    pressure_before = cpu_pressure()
    print(
        f"python {sys.version.split()[0]}  torch {torch.__version__}  threads {threads}"
        f" (torch and ONNX Runtime)  cpu pressure (some avg10): {pressure_before}"
    )
    print("(pressure above a few % means another process competes for the CPU: numbers swing)")

    everything = list(JSONLLabelStore(args.data).receipts())
    receipts = everything[: args.limit]
    if len(receipts) <= args.warmup:
        raise SystemExit(f"{len(receipts)} receipts: need more than --warmup {args.warmup}")

    ocr: OCRFigures | None = None
    if not args.skip_ocr:
        print(f"OCR: tesseract on {len(receipts)} images ...", flush=True)
        ocr, recognised = ocr_receipts(receipts, args.data.parent)
        print(
            f"OCR per image: p50 {ocr.latency.p50_ms:.0f} ms, p95 {ocr.latency.p95_ms:.0f} ms,"
            f" mean {ocr.latency.mean_ms:.0f} ms; words per image mean"
            f" {ocr.words_per_image_mean:.0f}, p50 {ocr.words_per_image_p50:.0f}"
            f" ({ocr.failures} failed)"
        )
        if args.words == "ocr":
            receipts = recognised

    with tempfile.TemporaryDirectory(prefix="bench-inference-") as scratch:
        print("loading models and building ONNX bundles ...", flush=True)
        approaches = load_approaches(args, wildreceipt_tags(everything), threads, Path(scratch))
        model = approaches.reference.model
        parameters = sum(p.numel() for p in model.parameters())
        tokens = token_counts(approaches.reference.tokenizer, receipts)
        over = sum(t > SEED_LENGTH for t in tokens)
        print(
            f"model: {approaches.description}; {parameters / 1e6:.1f}M parameters,"
            f" {len(model_tags(model))} tags"
        )
        print(
            f"data: {len(receipts)} receipts ({args.words} words) from {args.data};"
            f" tokens per receipt mean {statistics.fmean(tokens):.0f},"
            f" p50 {statistics.median(tokens):.0f}, max {max(tokens)};"
            f" {over} over {SEED_LENGTH} (windows for ours, truncated for the seeds)"
        )
        print(
            f"inference, one receipt at a time: {len(approaches.labellers)} approaches x"
            f" {len(receipts)} receipts ({args.warmup} warm-up each, untimed) ...",
            flush=True,
        )
        rows = inference_rows(approaches, receipts, args.warmup, not args.no_batched)
        worker: WorkerFigures | None = None
        images = [args.data.parent / r.image for r in everything[: args.limit] if r.image]
        if ocr is not None and args.worker_receipts > 0 and images:
            images = images[: args.worker_receipts]
            print(f"OCR worker: {len(images)} jobs, {args.worker_predictor} ...", flush=True)
            model_dir = worker_model(approaches, args.worker_predictor, Path(scratch))
            worker = worker_throughput(images, model_dir, args.worker_predictor, threads)

    print_table(rows, target_applies=args.checkpoint is not None or args.size == "base")
    print(
        "x seeds = the seeds row's ms / this row's ms. Target for base: >= "
        f"{TARGET_SPEEDUP:g}x on the means against the faster seeds row (PASS/MISS)."
        " The seeds' batched figure is 1000 / mean ms (they ran batch 1)."
    )
    truncated = sum(approaches.seeds.truncated.values())
    words = sum(len(r.words) for r in receipts)
    print(f"seeds truncated {truncated} words of {words} (labelled O; counted in agreement)")
    estimates = print_estimates(ocr, rows) if ocr is not None else {}
    if worker is not None:
        print(
            f"MEASURED worker receipts/min ({worker.kind}; {worker.predictor}):"
            f" {worker.receipts_per_min:.1f} over {worker.receipts} jobs in"
            f" {worker.seconds:.1f} s ({worker.completed} completed, {worker.failed} failed);"
            f" its own per-job p50: OCR {worker.ocr_p50_ms:.0f} ms,"
            f" inference {worker.inference_p50_ms:.0f} ms"
        )
    pressure_after = cpu_pressure()
    print(f"cpu pressure at the end: {pressure_after}")

    if args.json is not None:
        report = {
            "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "threads": threads,
            "torch": torch.__version__,
            "model": approaches.description,
            "parameters": parameters,
            "receipts": len(receipts),
            "words": args.words,
            "tokens_per_receipt": {
                "mean": statistics.fmean(tokens),
                "p50": statistics.median(tokens),
                "max": max(tokens),
                "over_512": over,
            },
            "cpu_pressure": {"before": pressure_before, "after": pressure_after},
            "ocr": asdict(ocr) if ocr else None,
            "inference": [asdict(row) for row in rows],
            "seeds_truncated_words": truncated,
            "worker": asdict(worker) if worker else None,
            "worker_estimates": estimates,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
