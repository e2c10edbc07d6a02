"""DynamoDB read models and label store on a local moto server: writes and query latency.

    .venv/bin/python bench/read_models.py [--jobs 50] [--receipts 40] [--repeat 20]

Items written per job lifecycle (create, start, 3 metrics, 2 logs, succeed, auto-export
requested), once with one catch-up at the end and once with a query after every step; then
the median latency of each query over `--repeat` calls, straight on the read model and
through `JobCatalog` (which first checks each followed stream's position). moto runs in this
process over loopback, so figures are moto's (its scans cost ~2 ms per item), not AWS's.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from receipts.adapters.dynamodb.job_read_model import DynamoDBJobReadModel
from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.training.job_views import JobCatalog
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.job import JobDraft, JobResults, JobStatus
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation
from receipts.domain.ocr_job import OCRStatus
from receipts.settings import Settings

T0 = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def lifecycle(runtime: Runtime, name: str, step: Callable[[], None]) -> Any:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name=name))
    step()
    jobs.start_job(job_id)
    step()
    for epoch in (1, 2, 3):
        at = T0 + timedelta(minutes=epoch)
        evaluation = Evaluation(
            epoch=epoch, global_step=100 * epoch, f1=0.5, precision=0.5, recall=0.5, timestamp=at
        )
        jobs.record_evaluation(job_id, evaluation)
        step()
    for kind in ("run_config", "run_summary"):
        jobs.append_log(job_id, LogEntry(kind=kind, message=kind))
        step()
    results = JobResults(
        best_checkpoint_uri=f"s3://models/runs/{name}/best/",
        best_f1=0.7,
        best_epoch=2,
        epochs_run=3,
    )
    jobs.succeed_job(job_id, results)
    step()
    return job_id


def median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--receipts", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
    )
    try:
        with tempfile.TemporaryDirectory() as home:
            run(Path(home), args)
    finally:
        server.stop()


def run(home: Path, args: argparse.Namespace) -> None:
    runtime = bootstrap(Settings(mode="memory", home=home))
    model = DynamoDBJobReadModel("bench-read-models")
    model.create_table()
    catalog = JobCatalog(runtime.jobs, model, exports=runtime.exports, ocr_jobs=runtime.ocr_jobs)

    lifecycle(runtime, "once", lambda: None)
    catalog.catch_up()
    once = model.table.writes
    lifecycle(runtime, "stepwise", catalog.catch_up)
    stepwise = model.table.writes - once
    print("items written per job lifecycle (create, start, 3 metrics, 2 logs, succeed, export):")
    print(f"  one catch-up at the end  {once}")
    print(f"  a query after every step {stepwise}")

    job_ids = [lifecycle(runtime, f"job-{n:04d}", lambda: None) for n in range(args.jobs)]
    ocr_ids = [runtime.ocr_jobs.submit(f"s3://raw/{n}.png") for n in range(args.jobs)]
    start = time.perf_counter()
    catalog.catch_up()
    seconds = time.perf_counter() - start
    print(f"projecting {args.jobs} lifecycles + {args.jobs} OCR jobs: {seconds:.2f} s")

    job_id, ocr_id = job_ids[args.jobs // 2], ocr_ids[args.jobs // 2]
    export_id = model.exports_of(job_id)[0].export_id
    queries: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "jobs by status (succeeded)",
            lambda: model.by_status(JobStatus.SUCCEEDED),
            lambda: catalog.by_status("succeeded"),
        ),
        (
            "latest job by status",
            lambda: model.latest_by_status(JobStatus.SUCCEEDED),
            lambda: catalog.latest_by_status("succeeded"),
        ),
        ("job by name", lambda: model.by_name("job-0007"), lambda: catalog.by_name("job-0007")),
        ("metrics of a job", lambda: model.metrics(job_id), lambda: catalog.metrics(job_id)),
        ("logs of a job", lambda: model.logs(job_id), lambda: catalog.logs(job_id)),
        ("export by id", lambda: model.export(export_id), lambda: catalog.export(export_id)),
        ("exports of a job", lambda: model.exports_of(job_id), lambda: catalog.exports_of(job_id)),
        ("OCR job by id", lambda: model.ocr_job(ocr_id), lambda: catalog.ocr_job(ocr_id)),
        (
            "OCR jobs by status (pending)",
            lambda: model.ocr_jobs_by_status(OCRStatus.PENDING),
            lambda: catalog.ocr_jobs_by_status("pending"),
        ),
    ]
    print(f"median query latency, ms ({args.repeat} calls; table of {args.jobs + 2} jobs):")
    print(f"  {'query':32} {'read model':>10} {'catalog':>8}")
    for name, direct, through in queries:
        print(
            f"  {name:32} {median_ms(direct, args.repeat):10.1f}"
            f" {median_ms(through, args.repeat):8.1f}"
        )

    store = DynamoDBLabelStore("bench-labels")
    store.create_table()
    receipts = generate_receipts(args.receipts, seed=1)
    words = sum(len(r.words) for r in receipts)
    start = time.perf_counter()
    store.put(receipts)
    put_s = time.perf_counter() - start
    print(f"label store: {args.receipts} receipts, {words} word items")
    print(f"  put          {put_s * 1000:8.0f} ms ({(words + args.receipts) / put_s:.0f} items/s)")
    print(f"  receipts()   {median_ms(lambda: list(store.receipts()), 3):8.0f} ms (scan)")
    print(f"  get          {median_ms(lambda: store.get(receipts[3].receipt_id), 10):8.1f} ms")
    print(f"  count_labels {median_ms(store.count_labels, 3):8.0f} ms (a GSI2 query per label)")
    runtime.close()


if __name__ == "__main__":
    main()
