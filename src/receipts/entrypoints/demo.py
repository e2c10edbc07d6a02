"""`receipts demo` / `make demo`: the end-to-end path on the embedded default."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import structlog
from rich.table import Table
from rich.text import Text

from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.synthetic.generator import generate_receipt, render
from receipts.application.ocr.ocr_worker import SIDECAR_SUFFIX
from receipts.application.ports.exporter import Exporter
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime
from receipts.bootstrap.export import ExporterUnavailable, build_export_worker, exporter_for
from receipts.bootstrap.ocr import build_ocr_worker, model_cache
from receipts.bootstrap.training import label_store_for, layoutlm_trainer, lease_terms
from receipts.domain.config import DataConfig
from receipts.domain.job import JobDraft
from receipts.domain.receipt import Receipt
from receipts.entrypoints import console
from receipts.entrypoints.progress import RichTrainingProgress

DEMO_RECEIPTS = 1000
DEMO_SEED = 0
DEMO_OCR_SEED = 4242
DEMO_OCR_IMAGES = 3


def synthetic_dataset(home: Path, count: int = DEMO_RECEIPTS, seed: int = DEMO_SEED) -> Path:
    """The demo's labelled receipts, generated once (deterministic: same seed, same file)."""
    path = home / "datasets" / f"synthetic-{seed}-{count}.jsonl"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        for index in range(count):
            out.write(json.dumps(to_record(generate_receipt(seed, index)[0])) + "\n")
    partial.replace(path)
    return path


def sidecar_json(receipt: Receipt) -> bytes:
    """The stub engine's sidecar for a synthetic receipt (its exact words)."""
    words = [{"text": w.text, "box": w.box.as_list(), "line_id": w.line_id} for w in receipt.words]
    return json.dumps({"width": receipt.width, "height": receipt.height, "words": words}).encode()


def demo_exporter() -> tuple[Exporter, Text]:
    """The CoreML exporter when it can run here, else the simulated one (and why)."""
    try:
        return exporter_for("coreml"), Text()
    except ExporterUnavailable as error:
        unavailable = (f"CoreML unavailable: {error}", "yellow")
        return exporter_for("simulated"), console.styled("; ", unavailable)


def run_demo(runtime: Runtime, receipts: int = DEMO_RECEIPTS, epochs: int = 12) -> None:
    out = console.out
    settings = runtime.settings
    home = settings.home.resolve()
    out.rule(Text("receipts demo", "bold"))
    out.print(f"mode: {settings.mode}   data: {home}")
    started = time.perf_counter()
    dataset = synthetic_dataset(home, receipts)
    out.print(f"1. synthetic receipts: {dataset} ({receipts}, seed {DEMO_SEED})")
    name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    job_id = runtime.jobs.create_job(
        JobDraft(
            name=name,
            description="end-to-end demo on the embedded default",
            created_by="make demo",
            config={
                "hyperparameters": {
                    "epochs": epochs,
                    "batch_size": 16,
                    "learning_rate": 1e-3,
                    "warmup_ratio": 0.1,
                    "early_stopping_patience": 3,
                    "early_stopping_threshold": 0.001,
                },
                "data": {"merge_amounts": True, "dataset": str(dataset)},
                "model": {"model_size": "tiny", "max_seq_length": 256, "stride": 64},
            },
        )
    )
    out.print(
        console.styled(
            "2. created job ",
            (name, "bold"),
            f" ({job_id}): tiny LayoutLM from scratch, amounts merged",
        )
    )
    trainer = layoutlm_trainer(runtime, progress=RichTrainingProgress(out))
    status = run_training(runtime.jobs, job_id, trainer, lease=lease_terms(runtime.settings))
    job = runtime.jobs.get_job(job_id)
    out.print(f"3. job {status.value}" + (f": {job.status_reason}" if job.status_reason else ""))
    out.print(console.evaluations_table(runtime.jobs.evaluations_of(job_id)))
    if job.results:
        r = job.results
        out.print(
            f"   best entity F1 {r.best_f1:.4f} (epoch {r.best_epoch}), field F1"
            f" {r.extra.get('best_field_f1') or 0:.4f}; checkpoint {r.best_checkpoint_uri}"
        )
        if r.dataset:
            d = r.dataset
            out.print(
                f"   data set {d.content_hash[:16]}…: {d.train_receipts} train /"
                f" {d.validation_receipts} validation receipts"
            )
    run_auto_export(runtime, job_id)
    if job.results:
        run_ocr_jobs(runtime, out_dir=home / "demo-ocr")
        write_inference_report(runtime, dataset, job.results.best_checkpoint_uri, home)
    out.print(console.jobs_table(runtime.catalog().all()[-5:]))
    out.rule(f"done in {time.perf_counter() - started:.0f} s: `receipts jobs show {name}`")


def run_auto_export(runtime: Runtime, job_id: UUID) -> None:
    """Steps 4-6: the policy's queued export, handled by a worker, and its result message."""
    out = console.out
    export = runtime.exports.auto_export_of(job_id)
    depth = runtime.queues.export_jobs.approximate_count()
    out.print(
        f"4. auto-export policy: ExportJob {export.id if export else '-'}"
        f" {export.status.value if export else 'not requested'}; export queue holds {depth}"
    )
    exporter, note = demo_exporter()
    worker = build_export_worker(runtime, exporter, "demo-worker")
    handled = worker.serve(continuous=True, until_empty=True)
    out.print(
        console.styled(f"5. export worker ({exporter.name} exporter", note, f") handled {handled}")
    )
    export = runtime.exports.auto_export_of(job_id)
    if export and export.outcome:
        outcome = export.outcome
        out.print(
            f"   bundle: {outcome.bundle_uri} ({export.request.quantization.value},"
            f" exported in {outcome.duration_seconds:.1f} s)"
        )
        for file, size in sorted(outcome.file_sizes.items()):
            out.print(f"   {size:>13,} B  {file}")
        out.print(f"   {outcome.total_bytes:>13,} B  in all")
    elif export and export.error:
        out.print(console.styled("   ", ("export failed:", "red"), f" {export.error}"))
    for message in runtime.queues.export_results.receive(max_messages=10):
        out.print(f"6. result message: {message.body}")
        runtime.queues.export_results.delete(message.receipt_handle)


def run_ocr_jobs(runtime: Runtime, out_dir: Path, count: int = DEMO_OCR_IMAGES) -> None:
    """Renders held-out synthetic receipts as images, submits them as OCR jobs and lets the
    OCR worker read them with Tesseract (the stub engine and sidecars when it is missing),
    using the job just trained (the worker's default model)."""
    out = console.out
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = "tesseract" if shutil.which("tesseract") else "stub"
    job_ids = []
    for index in range(count):
        receipt, _ = generate_receipt(DEMO_OCR_SEED, index)
        image = out_dir / f"receipt-{index}.png"
        render(DEMO_OCR_SEED, index).save(image)
        uri = runtime.artifacts_uri(f"raw-receipts/demo-{DEMO_OCR_SEED}-{index}.png")
        runtime.artifacts.upload_file(image, uri)
        if engine == "stub":
            runtime.artifacts.put_bytes(uri + SIDECAR_SUFFIX, sidecar_json(receipt))
        job_ids.append(runtime.ocr_jobs.submit(uri, ocr_engine=engine, submitted_by="make demo"))
    missing = ("tesseract missing: stub OCR", "yellow")
    note = Text() if engine == "tesseract" else console.styled(" (", missing, ")")
    out.print(console.styled(f"7. OCR: {count} rendered receipts submitted in {out_dir}", note))
    worker = build_ocr_worker(
        runtime,
        models=model_cache(runtime),
        log=structlog.get_logger("receipts.ocr_worker").bind(worker="demo-ocr-worker"),
        worker_name="demo-ocr-worker",
    )
    handled = worker.serve(continuous=True)
    out.print(f"   OCR worker ({engine}) handled {len(handled)}: {dict(Counter(handled))}")
    table = Table("OCR job", "words", "routing", "company", "date", "total", "why")
    for job_id in job_ids:
        job = runtime.ocr_jobs.get_ocr_job(job_id)
        if job.outcome is None:
            table.add_row(str(job_id)[:8], "", job.status.value, "", "", "", job.error or "")
            continue
        fields = job.outcome.fields
        table.add_row(
            str(job_id)[:8],
            str(job.outcome.word_count),
            job.outcome.routing.value,
            str(fields.get("company", "")),
            str(fields.get("date", "")),
            str(fields.get("total", "")),
            job.outcome.routing_reason,
        )
    out.print(table)
    messages = runtime.queues.ocr_results.receive(max_messages=10)
    for message in messages:
        runtime.queues.ocr_results.delete(message.receipt_handle)
    out.print(f"   {len(messages)} completion message(s); `receipts ocr-jobs` lists them")


def write_inference_report(
    runtime: Runtime, dataset: Path, checkpoint_uri: str, home: Path
) -> None:
    """Seed 002's report of one receipt: predictions beside its labels, JSON and HTML."""
    from receipts.application.inference.cache import InferenceCache, InferenceReports
    from receipts.entrypoints.report_cli import write_report

    labels = label_store_for(DataConfig(dataset=str(dataset)))
    models = model_cache(runtime, checkpoint_uri)
    reports = InferenceReports(
        labels=labels,
        cache=InferenceCache(runtime.artifacts, runtime.artifacts_uri),
        predictor=models.get,
    )
    outcome = reports.generate(seed=DEMO_SEED)
    written = write_report(outcome.response, home / "reports", labels, dataset)
    metrics = outcome.response.metrics
    out = console.out
    out.print(
        f"8. inference report of {outcome.response.receipt_id}: accuracy"
        f" {metrics.overall_accuracy:.3f}; open {written[-1]}"
    )
