"""AWS calls per job lifecycle, and the time of a lifecycle, against a local moto server.

    .venv/bin/python bench/aws_ops.py [--jobs 20] [--epochs 3]

A lifecycle is what `receipts simulate` runs (create a job, train it with the simulated
backend and one metric per epoch, succeed or fail, the auto-export policy, the export worker,
one OCR job), here in aws mode: DynamoDB event store, SQS queues, S3 artifacts. A counting
HTTP proxy between the clients and moto sees every request, so the counts are what the
adapters really send, whatever code path sends them:

- DynamoDB requests by operation, items written (each transaction item, put, update or
  batch entry) and items read (items returned by GetItem, Query and BatchGetItem);
- SQS requests by operation; S3 requests by HTTP method.

Resources are created before the clock starts. Latency is loopback to moto, not AWS: the
request counts carry over to AWS, the seconds do not.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}
WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem"}
READ_ONE = {"GetItem"}


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    dynamodb_written: int = 0
    dynamodb_read: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, target: str, method: str, body: bytes, response: bytes) -> None:
        with self.lock:
            if target.startswith("DynamoDB_"):
                operation = target.split(".", 1)[1]
                self.requests[f"dynamodb {operation}"] += 1
                self._dynamodb_items(operation, body, response)
            elif target.startswith("AmazonSQS."):
                self.requests[f"sqs {target.split('.', 1)[1]}"] += 1
            else:
                self.requests[f"s3 {method}"] += 1

    def _dynamodb_items(self, operation: str, body: bytes, response: bytes) -> None:
        request = _json(body)
        answer = _json(response)
        if operation == "TransactWriteItems":
            self.dynamodb_written += len(request.get("TransactItems", []))
        elif operation == "BatchWriteItem":
            self.dynamodb_written += sum(len(v) for v in request.get("RequestItems", {}).values())
        elif operation in WRITE_OPERATIONS:
            self.dynamodb_written += 1
        elif operation in READ_ONE:
            self.dynamodb_read += 1 if answer.get("Item") else 0
        elif operation in ("Query", "Scan"):
            self.dynamodb_read += int(answer.get("Count", 0))
        elif operation == "BatchGetItem":
            self.dynamodb_read += sum(len(v) for v in answer.get("Responses", {}).values())

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.dynamodb_written = 0
            self.dynamodb_read = 0


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def counting_proxy(upstream: str, tally: Tally) -> ThreadingHTTPServer:
    target = urlsplit(upstream)
    upstream_host, upstream_port = target.hostname or "127.0.0.1", target.port

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            headers["Host"] = f"{upstream_host}:{upstream_port}"
            connection = http.client.HTTPConnection(upstream_host, upstream_port, timeout=60)
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            connection.close()
            tally.record(self.headers.get("X-Amz-Target", ""), self.command, body, payload)
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="lifecycles to run")
    parser.add_argument("--epochs", type=int, default=3, help="metrics per job")
    args = parser.parse_args(argv)

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    tally = Tally()
    proxy = counting_proxy(f"http://{host}:{port}", tally)
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.server_address[1]}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )

    from receipts.bootstrap import bootstrap
    from receipts.entrypoints.simulation import SimulationReport, simulate_lifecycles
    from receipts.entrypoints.structured_logs import configure_logging
    from receipts.settings import Settings

    def settings_for(suffix: str) -> Settings:
        return Settings(
            mode="aws",
            create_resources=True,
            log_level="warning",
            events_table=f"bench-events-{suffix}",
            table=f"bench-{suffix}",
            bucket=f"bench-{suffix}",
            export_queue=f"bench-export-{suffix}",
            export_results_queue=f"bench-export-results-{suffix}",
            ocr_queue=f"bench-ocr-{suffix}",
            ocr_results_queue=f"bench-ocr-results-{suffix}",
        )

    def run(settings: Settings, *, counted: bool) -> tuple[SimulationReport, float]:
        runtime = bootstrap(settings)
        try:
            simulate_lifecycles(runtime, 1, epochs=args.epochs, fail_rate=0.0, skip_rate=0.0)
            if counted:
                tally.reset()
            started = time.perf_counter()
            report = simulate_lifecycles(
                runtime, args.jobs, epochs=args.epochs, fail_rate=0.0, skip_rate=0.0, seed=1
            )
            return report, time.perf_counter() - started
        finally:
            runtime.close()

    configure_logging(settings_for("logging"))
    try:
        # counted through the proxy; timed straight against moto (the proxy adds its own hops)
        report, _ = run(settings_for(uuid4().hex[:8]), counted=True)
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        _, seconds = run(settings_for(uuid4().hex[:8]), counted=False)
    finally:
        proxy.shutdown()
        moto.stop()

    jobs = args.jobs
    print(f"{jobs} lifecycles in aws mode against moto (each: create, {args.epochs} metrics,")
    print("succeed, export requested, queued, exported, result sent, one OCR job)")
    print(f"statuses: jobs {dict(report.job_statuses)}, exports {dict(report.export_statuses)}")
    print()
    print(f"{'request':40} {'total':>7} {'per lifecycle':>14}")
    for name, count in sorted(tally.requests.items()):
        print(f"{name:40} {count:7d} {count / jobs:14.1f}")
    dynamodb = sum(c for n, c in tally.requests.items() if n.startswith("dynamodb "))
    print()
    print(f"DynamoDB requests per lifecycle     {dynamodb / jobs:8.1f}")
    print(f"DynamoDB items written per lifecycle {tally.dynamodb_written / jobs:7.1f}")
    print(f"DynamoDB items read per lifecycle    {tally.dynamodb_read / jobs:7.1f}")
    print(f"all requests per lifecycle           {sum(tally.requests.values()) / jobs:7.1f}")
    print(f"seconds per lifecycle (moto direct)    {seconds / jobs:6.3f}")
    print(f"lifecycles/s                           {jobs / seconds:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
