"""Lambda `ocr_results`: the OCR results queue → each OCRJob's recorded outcome.

The seeds' OCR worker is a Swift app on a Mac: it cannot record this library's events, so
the completion message it sends ({job_id, status, word_count, routing, result_uris |
error}) is how its OCRJob ends. Idempotent by job_id (a finished job is left as it is),
and triggered by SQS with ReportBatchItemFailures like `export_results`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import ValidationError

from receipts.application.ocr.ocr_jobs import OCRJobs
from receipts.application.queueing.messages import OCRResultMessage
from receipts.bootstrap import Runtime
from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput
from receipts.domain.ocr_job import OCROutcome, OCRStatus
from receipts.entrypoints.lambdas import sqs_batch
from receipts.entrypoints.lambdas.runtime import current_runtime

WORKER = "ocr-results-queue"
Recorded = Literal["completed", "failed", "unchanged", "in_progress"]
FINAL = {"completed": OCRStatus.COMPLETED, "failed": OCRStatus.FAILED}
IN_PROGRESS = frozenset({"pending", "processing"})


def record_ocr_result(ocr_jobs: OCRJobs, body: str) -> Recorded:
    """Records the outcome one result message reports; raises InvalidInput for a bad one."""
    message = OCRResultMessage.parse(body)
    if not sqs_batch.is_final(message.status, FINAL, IN_PROGRESS, "OCRResultMessage body"):
        return "in_progress"
    outcome = _outcome(message) if message.status == "completed" else None
    error = message.error or "the OCR worker reported a failure without a reason"
    recorded = ocr_jobs.record_result(message.job_id, outcome, error, worker=WORKER)
    if recorded == "unchanged":
        job = ocr_jobs.get_ocr_job(message.job_id)
        sqs_batch.warn_if_contradicted("OCR job", job.id, job.status, FINAL[message.status])
    return recorded


def _outcome(message: OCRResultMessage) -> OCROutcome:
    try:
        return OCROutcome.model_validate(
            {
                "word_count": message.word_count,
                "routing": message.routing,
                "result_uris": message.result_uris,
            }
        )
    except ValidationError as error:
        raise InvalidInput("OCRResultMessage body", validation_problems(error)) from None


def make_handler(runtime: Callable[[], Runtime] = current_runtime) -> sqs_batch.Handler:
    return sqs_batch.results_handler(lambda: runtime().ocr_jobs, record_ocr_result, "OCR result")


handler = make_handler()
