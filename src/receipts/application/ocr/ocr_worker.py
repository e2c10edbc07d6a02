"""The OCR worker's use case: one queue message → one OCRJob read, labelled and routed.

For each job: download the image, OCR it, run LayoutLM, upload the OCR result and the
labels (`ocr_results/<job>.json`, `receipts/<job>/labels.json`), write the word-label
record (reviewable validation status), record the outcome on the OCRJob and send the
completion message. Idempotent by job id: a redelivery of a finished job only re-sends its
completion message. A bad image, an image without words, an engine or a model that cannot
run fails that job with the reason and the worker goes on; nothing of a failed job stays
uploaded or recorded. A message that is not an OCR request is left for the dead-letter
queue.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal
from uuid import UUID

from receipts.application.ocr.model_cache import ModelCache
from receipts.application.ocr.ocr_jobs import OCRJobs
from receipts.application.ocr.receipt_reading import ReceiptReading, read_receipt
from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.ocr_engine import OCREngine, OCREngineUnavailable, OCRFailed
from receipts.application.ports.predictor import ModelUnusable
from receipts.application.ports.queue import QueueMessage
from receipts.application.queueing.messages import OCRMessage, OCRResultMessage
from receipts.application.queueing.queue_worker import QueueWorker
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI
from receipts.domain.errors import OCRJobNotFound
from receipts.domain.ocr_job import OCRJob, OCROutcome, OCRStatus
from receipts.domain.routing import RoutingPolicy

Handled = Literal["completed", "failed", "duplicate", "resent", "poison", "error"]
JOB_FAILURES = (OCRFailed, OCREngineUnavailable, ModelUnusable, ArtifactNotFound, ValueError)
"""What fails one job (with its reason) rather than the delivery."""

SIDECAR_SUFFIX = ".ocr.json"


@dataclass(kw_only=True)
class OCRWorker(QueueWorker[OCRMessage, Handled]):
    """`engine_override` (the seeds' `--stub-ocr`) replaces the engine each job asks for.
    A stop lets the current job finish (OCR jobs take seconds)."""

    ocr_jobs: OCRJobs
    artifacts: ArtifactStore
    labels: LabelStore
    engines: Callable[[str], OCREngine]
    models: ModelCache
    results_prefix: str
    """Where results go: `<prefix>ocr_results/<job>.json`, `<prefix>receipts/<job>/...`."""
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    engine_override: str | None = None
    worker_name: str = "ocr-worker"
    visibility_timeout: float = 300.0

    def parse(self, body: str) -> OCRMessage:
        return OCRMessage.parse(body)

    def describe(self, request: OCRMessage) -> dict[str, str]:
        return {"ocr_job_id": str(request.job_id)}

    def work(self, message: QueueMessage, request: OCRMessage) -> Handled:
        fields = self.delivery_fields(message, request)
        job = self._job_for(request)
        resend = partial(self._send_result, job)
        if seen := self.redelivery(message, job, OCRStatus.PROCESSING, "OCR job", fields, resend):
            return seen
        job = self.ocr_jobs.start(job.id, self.worker_name)
        engine_name = self.engine_override or job.request.ocr_engine
        self.log.info(
            "OCR job started",
            image_uri=job.request.image_uri,
            engine=engine_name,
            attempt=job.attempts,
            **fields,
        )
        with self.heartbeat(message):
            result = self._process(job, engine_name)
        if isinstance(result, Exception):
            reason = f"{type(result).__name__}: {result}"
            self.ocr_jobs.fail(job.id, reason)
            self.log.warning("OCR job failed", reason=reason, **fields)
        else:
            self.log.info(
                "OCR job completed",
                words=result.word_count,
                routing=result.routing.value,
                routing_reason=result.routing_reason,
                ocr_seconds=round(result.ocr_seconds, 3),
                inference_seconds=round(result.inference_seconds, 3),
                **fields,
            )
        finished = self.ocr_jobs.get_ocr_job(job.id)
        self._send_result(finished)
        self.delete(message, fields)
        return "completed" if finished.status is OCRStatus.COMPLETED else "failed"

    def _process(self, job: OCRJob, engine_name: str) -> OCROutcome | Exception:
        """The job's outcome (recorded), or the error that failed it.

        Only what concerns the job itself fails it (its image, its engine, its model). A
        failure to store the results (a missing table or bucket, a throttled write) is the
        environment's: whatever was uploaded is removed, the job stays processing and the
        error propagates, so the message comes back for a retry and then the DLQ."""
        receipt_id = f"ocr-{job.id}"
        try:
            with tempfile.TemporaryDirectory(prefix="receipts-ocr-") as work:
                engine = self.engines(engine_name)
                image = self._download(job.request.image_uri, Path(work), engine_name)
                predictor = self.models.get(job.request.model_uri)
                reading = read_receipt(
                    image,
                    receipt_id=receipt_id,
                    engine=engine,
                    predictor=predictor,
                    policy=self.policy,
                    image_uri=job.request.image_uri,
                )
        except JOB_FAILURES as error:
            return error
        written: list[str] = []
        try:
            uris = self._upload(job.id, reading, written)
            # keyed by the job: a retry after a crash from here on overwrites the same record
            self.labels.put([reading.labelled_receipt()])
            outcome = outcome_of(reading, uris)
            self.ocr_jobs.complete(job.id, outcome)
        except Exception:
            self._undo(written)
            raise
        return outcome

    def _download(self, image_uri: str, work: Path, engine_name: str) -> Path:
        try:
            name = ArtifactURI.parse(image_uri).key.rsplit("/", 1)[-1] or "image"
        except InvalidArtifactURI as error:
            raise ValueError(str(error)) from None
        image = work / name
        self.artifacts.download_file(image_uri, image)
        if engine_name == "stub":  # the stub reads its words from a sidecar beside the image
            with contextlib.suppress(ArtifactNotFound):  # the engine names a missing one
                self.artifacts.download_file(
                    image_uri + SIDECAR_SUFFIX, work / (name + SIDECAR_SUFFIX)
                )
        return image

    def _upload(self, job_id: UUID, reading: ReceiptReading, written: list[str]) -> dict[str, str]:
        prefix = ArtifactURI.parse(self.results_prefix)
        documents = reading.documents()
        targets = {
            "ocr": str(prefix.join("ocr_results", f"{job_id}.json")),
            "labels": str(prefix.join("receipts", str(job_id), "labels.json")),
        }
        for role, uri in targets.items():
            self.artifacts.put_bytes(uri, documents[role])
            written.append(uri)
        return targets

    def _undo(self, written: list[str]) -> None:
        for uri in written:
            try:
                self.artifacts.delete(uri)
            except Exception as error:
                self.log.warning("could not remove a result", uri=uri, error=str(error))

    def _job_for(self, request: OCRMessage) -> OCRJob:
        try:
            return self.ocr_jobs.get_ocr_job(request.job_id)
        except OCRJobNotFound:
            # queued by hand (the seeds' upload path without this library): record it first
            self.ocr_jobs.submit(
                request.image_uri,
                ocr_job_id=request.job_id,
                ocr_engine=request.ocr_engine or "tesseract",
                submitted_by="queue",
            )
            return self.ocr_jobs.get_ocr_job(request.job_id)

    def _send_result(self, job: OCRJob) -> None:
        if self.results_queue is None:
            return
        self.results_queue.send(result_message(job).body())


def outcome_of(reading: ReceiptReading, result_uris: dict[str, str]) -> OCROutcome:
    return OCROutcome(
        word_count=len(reading.ocr.words),
        routing=reading.routing.decision,
        routing_reason=reading.routing.reason,
        result_uris=result_uris,
        fields=reading.fields,
        line_items=reading.line_items,
        model_used=reading.model.source_uri,
        ocr_engine=reading.engine,
        receipt_id=reading.receipt_id,
        labelled_words=reading.labelled_words,
        ocr_seconds=reading.ocr_seconds,
        inference_seconds=reading.inference_seconds,
    )


def result_message(job: OCRJob) -> OCRResultMessage:
    """The completion message of a finished job (the seeds' format, plus fields)."""
    if job.status is OCRStatus.COMPLETED and job.outcome is not None:
        outcome = job.outcome
        return OCRResultMessage(
            job_id=job.id,
            status="completed",
            word_count=outcome.word_count,
            routing=outcome.routing.value,
            routing_reason=outcome.routing_reason,
            result_uris=dict(outcome.result_uris),
            receipt_id=outcome.receipt_id,
            fields={k: str(v) for k, v in outcome.fields.items()},
        )
    return OCRResultMessage(job_id=job.id, status=job.status.value, error=job.error)
