"""`receipts demo` / `make demo`: the end-to-end path on the embedded default."""

from __future__ import annotations

import time

from receipts.adapters.simulated.exporter import SimulatedExporter
from receipts.adapters.simulated.training_backend import SimulatedTrainingBackend
from receipts.application.export_worker import ExportWorker
from receipts.application.training import run_training
from receipts.bootstrap import Runtime
from receipts.entrypoints import console


def run_demo(runtime: Runtime) -> None:
    out = console.out
    settings = runtime.settings
    out.rule("[bold]receipts demo")
    out.print(f"mode: {settings.mode}   data: {settings.home.resolve()}")
    name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    job_id = runtime.jobs.create_job(
        name=name,
        description="end-to-end demo on the embedded default",
        created_by="make demo",
        config={
            "hyperparameters": {"epochs": 5, "early_stopping_patience": 2},
            "data": {"merge_amounts": True},
            "model": {"model_size": "tiny", "max_seq_length": 128, "stride": 32},
        },
    )
    out.print(f"1. created job [bold]{name}[/] ({job_id}) → pending")
    backend = SimulatedTrainingBackend(runtime.artifacts, runtime.runs_prefix())
    out.print("2. training with the [yellow]simulated[/] backend (the LayoutLM trainer lands next)")
    status = run_training(runtime.jobs, job_id, backend)
    out.print(f"   job {status.value}")
    out.print(console.evaluations_table(runtime.jobs.evaluations_of(job_id)))
    job = runtime.jobs.get_job(job_id)
    if job.results:
        out.print(f"   best checkpoint: {job.results.best_checkpoint_uri}")
    export = runtime.exports.auto_export_of(job_id)
    depth = runtime.queues.export_jobs.approximate_count()
    out.print(
        f"3. auto-export policy: ExportJob {export.id if export else '-'}"
        f" {export.status.value if export else 'not requested'}; export queue holds {depth}"
    )
    worker = ExportWorker(
        exports=runtime.exports,
        jobs_queue=runtime.queues.export_jobs,
        results_queue=runtime.queues.export_results,
        artifacts=runtime.artifacts,
        exporter=SimulatedExporter(),
        worker_name="demo-worker",
    )
    handled = worker.drain()
    out.print(f"4. export worker handled {len(handled)} message(s): {handled}")
    export = runtime.exports.auto_export_of(job_id)
    if export and export.outcome:
        out.print(f"   bundle: {export.outcome.bundle_uri}")
        for file, size in sorted(export.outcome.file_sizes.items()):
            out.print(f"     {file:<20} {size:>10,} bytes")
    results = runtime.queues.export_results.receive(max_messages=10)
    for message in results:
        out.print(f"5. result message: {message.body}")
        runtime.queues.export_results.delete(message.receipt_handle)
    out.print(console.jobs_table(runtime.catalog().all()[-5:]))
    out.rule("done: `receipts jobs list`, `receipts jobs show " + name + "`")
