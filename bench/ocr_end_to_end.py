"""OCR jobs end to end on WildReceipt dev images with real Tesseract (issue 6's check).

    .venv/bin/python bench/ocr_end_to_end.py [--limit N] [--synthetic 600] [--epochs 6]
        [--model-size tiny | --pretrained minilm] [--json out.json] [--home DIR]

On the embedded default (a local-mode home: SQLite events and queues, files): trains a
model as a real job on synthetic receipts + the WildReceipt dev receipts (the `amounts`
preset), then submits every dev image the way `receipts ocr-submit` does and lets the OCR
worker (as `receipts ocr-worker --continuous` builds it, taking the latest succeeded job's
best checkpoint) process the queue with Tesseract. It reports, per image, that the OCRJob
completed (words, labelled words, fields, routing) or failed with a reason; the routing
split and its reasons; how often each field was found; and how often a found field equals
the one spelled by the image's ground-truth labels (after normalisation: case; spaces
ignored, as WildReceipt's segments have none; totals by value). Field agreement mixes OCR
errors (Tesseract splits and misreads words) with model errors; it is a sanity check, not
the model's quality figure (bench/quality.py gives that).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from machine import cpu_pressure
from receipts.adapters.jsonl.label_store import JSONLLabelStore, to_record
from receipts.adapters.synthetic.generator import generate_receipt
from receipts.adapters.torch.trainer import LayoutLMTrainer
from receipts.application.queueing.worker_log import StdlibWorkerLog
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.ocr import build_ocr_worker, model_cache
from receipts.bootstrap.training import load_dataset
from receipts.domain.fields import extract_fields, normalize_field, words_with_labels
from receipts.domain.job import JobDraft
from receipts.domain.labels import AMOUNT_LABELS
from receipts.domain.ocr_job import OCRStatus
from receipts.settings import Settings

DEV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "wildreceipt" / "dev.jsonl"
FIELDS = ("company", "address", "phone", "date", "time", "total")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build_dataset(path: Path, synthetic: int) -> int:
    with path.open("w", encoding="utf-8") as out:
        for index in range(synthetic):
            out.write(json.dumps(to_record(generate_receipt(11, index)[0])) + "\n")
        with DEV.open(encoding="utf-8") as dev:
            for line in dev:
                out.write(line if line.endswith("\n") else line + "\n")
    return synthetic


def train(runtime: Runtime, dataset: Path, args: argparse.Namespace) -> str:
    model: dict[str, Any] = {"max_seq_length": 256, "stride": 64}
    if args.pretrained:
        model["pretrained"] = args.pretrained
    else:
        model["model_size"] = args.model_size
    job_id = runtime.jobs.create_job(
        JobDraft(
            name=f"ocr-e2e-{time.strftime('%H%M%S')}",
            created_by="bench/ocr_end_to_end.py",
            config={
                "hyperparameters": {
                    "epochs": args.epochs,
                    "batch_size": 16,
                    "learning_rate": args.lr,
                    "warmup_ratio": 0.1,
                    "early_stopping_patience": 3,
                },
                "data": {"merge_amounts": True, "dataset": str(dataset)},
                "model": model,
            },
        )
    )
    trainer = LayoutLMTrainer(
        load_dataset,
        runtime.settings.artifacts_dir / "runs",
        runtime.artifacts,
        runtime.runs_prefix(),
        handle_signals=False,
    )
    status = run_training(runtime.jobs, job_id, trainer)
    job = runtime.jobs.get_job(job_id)
    if job.results is None:
        sys.exit(f"training {status.value}: {job.status_reason}")
    print(
        f"trained {job.name}: best entity F1 {job.results.best_f1:.4f} at epoch"
        f" {job.results.best_epoch} (validation split of synthetic + dev)"
    )
    return job.name


def truth_fields(receipt: Any) -> dict[str, str]:
    labels = ["AMOUNT" if w.label in AMOUNT_LABELS else w.label for w in receipt.words]
    grand = [w.text for w in receipt.words if w.label == "GRAND_TOTAL"]
    fields = extract_fields(
        words_with_labels(
            [w.text for w in receipt.words], labels, [w.line_id for w in receipt.words]
        )
    )
    if grand:
        fields["total"] = grand[-1]
    return fields


def _same(got: str, want: str, name: str) -> bool:
    """Equal after normalisation, spaces ignored: WildReceipt's ground-truth segments are
    OCR lines without spaces ("KOREANRESTAURANT") where Tesseract finds words."""
    return "".join(normalize_field(got, name).split()) == "".join(
        normalize_field(want, name).split()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="Dev images to submit.")
    parser.add_argument("--synthetic", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--model-size", default="tiny")
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.pretrained and args.lr == 1e-3:
        args.lr = 2e-4
    print(f"CPU pressure at start: {cpu_pressure()}")
    home = args.home or Path(tempfile.mkdtemp(prefix="receipts-ocr-e2e-"))
    runtime = bootstrap(Settings(mode="local", home=home))
    started = time.perf_counter()
    dataset = home / "synthetic-plus-wildreceipt-dev.jsonl"
    build_dataset(dataset, args.synthetic)
    job_name = train(runtime, dataset, args)
    train_seconds = time.perf_counter() - started

    dev = list(JSONLLabelStore(DEV).receipts())[: args.limit]
    submitted: dict[UUID, Any] = {}
    for receipt in dev:
        assert receipt.image is not None
        image = DEV.parent / receipt.image
        job_id = uuid4()
        uri = runtime.artifacts_uri(f"raw-receipts/{job_id}{image.suffix.lower()}")
        runtime.artifacts.upload_file(image, uri)
        runtime.ocr_jobs.submit(
            uri, ocr_job_id=job_id, ocr_engine="tesseract", submitted_by="bench"
        )
        submitted[job_id] = receipt
    models = model_cache(runtime)
    print(f"OCR worker model (latest succeeded job {job_name}): {models.default}")
    worker = build_ocr_worker(runtime, models=models, log=StdlibWorkerLog("bench.ocr"))
    started = time.perf_counter()
    handled = worker.serve(continuous=True)
    worker_seconds = time.perf_counter() - started

    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    routing: Counter[str] = Counter()
    routing_reasons: Counter[str] = Counter()
    found: Counter[str] = Counter()
    truth_has: Counter[str] = Counter()
    agree: Counter[str] = Counter()
    ocr_ms: list[float] = []
    infer_ms: list[float] = []
    words: list[int] = []
    labelled: list[int] = []
    records = 0
    for job_id, receipt in submitted.items():
        job = runtime.ocr_jobs.get_ocr_job(job_id)
        outcomes[job.status.value] += 1
        if job.status is OCRStatus.FAILED:
            reasons[(job.error or "?").split(":", 1)[0]] += 1
            continue
        if job.status is not OCRStatus.COMPLETED or job.outcome is None:
            continue
        outcome = job.outcome
        runtime.labels.get(outcome.receipt_id or "")  # the word-label record exists
        records += 1
        routing[outcome.routing.value] += 1
        for part in outcome.routing_reason.split("; "):
            routing_reasons[part.split(" confidence")[0] if "confidence" in part else part] += 1
        ocr_ms.append(outcome.ocr_seconds * 1000)
        infer_ms.append(outcome.inference_seconds * 1000)
        words.append(outcome.word_count)
        labelled.append(outcome.labelled_words)
        truth = truth_fields(receipt)
        for name in FIELDS:
            got = str(outcome.fields.get(name, ""))
            if got:
                found[name] += 1
            if truth.get(name):
                truth_has[name] += 1
                if got and _same(got, truth[name], name):
                    agree[name] += 1
    total = len(submitted)
    report: dict[str, Any] = {
        "images": total,
        "train_seconds": round(train_seconds, 1),
        "handled": dict(Counter(handled)),
        "statuses": dict(outcomes),
        "failure_reasons": dict(reasons),
        "word_label_records": records,
        "routing": dict(routing),
        "routing_reasons": dict(routing_reasons.most_common(8)),
        "fields_found": {name: found[name] for name in FIELDS},
        "field_agreement": {
            name: f"{agree[name]}/{truth_has[name]}" for name in FIELDS if truth_has[name]
        },
        "words_per_image_median": statistics.median(words) if words else 0,
        "labelled_words_median": statistics.median(labelled) if labelled else 0,
        "ocr_ms_p50_p95": [round(percentile(ocr_ms, 0.5)), round(percentile(ocr_ms, 0.95))],
        "inference_ms_p50_p95": [
            round(percentile(infer_ms, 0.5)),
            round(percentile(infer_ms, 0.95)),
        ],
        "worker_seconds": round(worker_seconds, 1),
        "receipts_per_minute": round(60 * len(handled) / worker_seconds, 1),
        "cpu_pressure_end": cpu_pressure(),
    }
    every_image_accounted = outcomes["completed"] + outcomes["failed"] == total
    report["every_image_completed_or_failed_with_reason"] = every_image_accounted and all(
        runtime.ocr_jobs.get_ocr_job(j).error
        for j in submitted
        if runtime.ocr_jobs.get_ocr_job(j).status is OCRStatus.FAILED
    )
    for key, value in report.items():
        print(f"{key:>45}: {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    runtime.close()


if __name__ == "__main__":
    main()
