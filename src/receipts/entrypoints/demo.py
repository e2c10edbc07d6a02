"""`receipts demo` / `make demo`: the end-to-end path on the embedded default."""

from __future__ import annotations

import json
import time
from pathlib import Path

import structlog

from receipts.adapters.archives import SafeTarExtractor
from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.adapters.synthetic.generator import generate_receipt
from receipts.adapters.torch.trainer import LayoutLMTrainer
from receipts.application.export_worker import ExportWorker
from receipts.application.ports.exporter import Exporter
from receipts.application.training import run_training
from receipts.bootstrap import Runtime
from receipts.entrypoints import console
from receipts.entrypoints.export_worker import ExporterUnavailable, build_exporter
from receipts.entrypoints.progress import RichTrainingProgress
from receipts.entrypoints.training_wiring import load_dataset

DEMO_RECEIPTS = 1000
DEMO_SEED = 0


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


def demo_exporter() -> tuple[Exporter, str]:
    """The CoreML exporter when it can run here, else the simulated one (and why)."""
    try:
        return build_exporter("coreml"), ""
    except ExporterUnavailable as error:
        return SimulatedExporter(), f"; [yellow]CoreML unavailable: {error}[/]"


def run_demo(runtime: Runtime, receipts: int = DEMO_RECEIPTS, epochs: int = 12) -> None:
    out = console.out
    settings = runtime.settings
    home = settings.home.resolve()
    out.rule("[bold]receipts demo")
    out.print(f"mode: {settings.mode}   data: {home}")
    started = time.perf_counter()
    dataset = synthetic_dataset(home, receipts)
    out.print(f"1. synthetic receipts: {dataset} ({receipts}, seed {DEMO_SEED})")
    name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    job_id = runtime.jobs.create_job(
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
    out.print(
        f"2. created job [bold]{name}[/] ({job_id}): tiny LayoutLM from scratch, amounts merged"
    )
    trainer = LayoutLMTrainer(
        load_dataset,
        settings.artifacts_dir / "runs",
        runtime.artifacts,
        runtime.runs_prefix(),
        progress=RichTrainingProgress(out),
    )
    status = run_training(runtime.jobs, job_id, trainer)
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
    export = runtime.exports.auto_export_of(job_id)
    depth = runtime.queues.export_jobs.approximate_count()
    out.print(
        f"4. auto-export policy: ExportJob {export.id if export else '-'}"
        f" {export.status.value if export else 'not requested'}; export queue holds {depth}"
    )
    exporter, note = demo_exporter()
    worker = ExportWorker(
        exports=runtime.exports,
        jobs_queue=runtime.queues.export_jobs,
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        exporter=exporter,
        worker_name="demo-worker",
        extractor=SafeTarExtractor(),
        log=structlog.get_logger("receipts.export_worker").bind(worker="demo-worker"),
    )
    handled = worker.serve(continuous=True, until_empty=True)
    out.print(f"5. export worker ({exporter.name} exporter{note}) handled {handled}")
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
        out.print(f"   [red]export failed:[/] {export.error}")
    for message in runtime.queues.export_results.receive(max_messages=10):
        out.print(f"6. result message: {message.body}")
        runtime.queues.export_results.delete(message.receipt_handle)
    out.print(console.jobs_table(runtime.catalog().all()[-5:]))
    out.rule(f"done in {time.perf_counter() - started:.0f} s: `receipts jobs show {name}`")
