"""Lambda `export_results`: the export results queue → each ExportJob's recorded outcome.

The seeds' export worker runs on a Mac, outside AWS; its one dependable channel back is
the results queue ({export_id, job_id, status, bundle_uri, total_bytes | error}). A worker
that shares the event store has already recorded the outcome when its result arrives, so
this is then a no-op; a worker that cannot write the store (the Swift app, a laptop with
queue-only credentials) gets its outcome recorded here. Idempotent by export_id: the first
terminal outcome stands, and a later contradicting one is only logged.

Triggered by SQS with ReportBatchItemFailures (`sqs_batch`): a message that is not JSON,
names an unknown export or status, or meets a transient error is reported alone, comes back
after its visibility timeout, and reaches the DLQ after maxReceiveCount receives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from receipts.application.export.exports import Exports
from receipts.application.queueing.messages import ExportResultMessage
from receipts.bootstrap import Runtime
from receipts.domain.errors import InvalidInput
from receipts.domain.export_job import ExportOutcome, ExportStatus
from receipts.entrypoints.lambdas import sqs_batch
from receipts.entrypoints.lambdas.runtime import current_runtime

WORKER = "export-results-queue"
Recorded = Literal["succeeded", "failed", "unchanged", "in_progress"]
FINAL = {"succeeded": ExportStatus.SUCCEEDED, "failed": ExportStatus.FAILED}
IN_PROGRESS = frozenset({"queued", "running"})


def record_export_result(exports: Exports, body: str) -> Recorded:
    """Records the outcome one result message reports; raises InvalidInput for a bad one."""
    message = ExportResultMessage.parse(body)
    if not sqs_batch.is_final(message.status, FINAL, IN_PROGRESS, "ExportResultMessage body"):
        return "in_progress"
    outcome = None
    if message.status == "succeeded":
        if not message.bundle_uri:
            raise InvalidInput("ExportResultMessage body", ["bundle_uri: required when succeeded"])
        outcome = ExportOutcome(bundle_uri=message.bundle_uri, total_bytes=message.total_bytes or 0)
    error = message.error or "the export worker reported a failure without a reason"
    recorded = exports.record_result(message.export_id, outcome, error, worker=WORKER)
    if recorded == "unchanged":
        export = exports.get_export(message.export_id)
        sqs_batch.warn_if_contradicted("export", export.id, export.status, FINAL[message.status])
    return recorded


def make_handler(runtime: Callable[[], Runtime] = current_runtime) -> sqs_batch.Handler:
    return sqs_batch.results_handler(
        lambda: runtime().exports, record_export_result, "export result"
    )


handler = make_handler()
