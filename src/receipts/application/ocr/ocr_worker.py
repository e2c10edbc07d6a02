"""The OCR worker's use case: one queue message → one OCRJob read, labelled and routed.

For each job: start an attempt (numbered on the OCRJob), download the image, OCR it, run
LayoutLM, stage the results under the attempt (`result_files`), complete the job naming
the attempt, and only then, as the attempt that won, publish the results at the seeds'
paths (`ocr_results/<job>.json`, `receipts/<job>/labels.json`) and the word-label record
(reviewable validation status), and send the completion message. An attempt that another
one took over (its message came back to another worker) is refused on completing: it
removes its own staged files and nothing else (`superseded`). A redelivery of a finished
job publishes what is missing and re-sends its completion message. A bad image, an image
without words, an engine or a model that cannot run fails that job with the reason and
the worker goes on; nothing of a failed job stays uploaded or recorded. A message that is
not an OCR request (an unknown engine too) is left for the dead-letter queue.
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
from receipts.application.ocr.result_files import published_files, result_uris, staged_files
from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.ocr_engine import OCREngine, OCREngineUnavailable, OCRFailed
from receipts.application.ports.predictor import ModelUnusable
from receipts.application.ports.queue import MessageQueue, QueueMessage
from receipts.application.queueing.messages import OCRMessage, OCRResultMessage
from receipts.application.queueing.queue_worker import QueueWorker
from receipts.application.queueing.scratch import scratch_prefix
from receipts.domain.artifacts import ArtifactURI, InvalidArtifactURI
from receipts.domain.errors import IllegalTransition, OCRJobNotFound, StaleAttempt
from receipts.domain.ocr_job import OCRJob, OCROutcome, OCRStatus
from receipts.domain.receipt import Receipt
from receipts.domain.routing import RoutingPolicy

Handled = Literal["completed", "failed", "duplicate", "resent", "superseded", "poison", "error"]
"""What became of one delivery: `superseded` = another attempt (or an operator) decided the
job first; this one published nothing."""
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
        resend = partial(self._publish_and_send, job.id)
        if seen := self.redelivery(message, job, OCRStatus.PROCESSING, "OCR job", fields, resend):
            return seen
        job = self.ocr_jobs.start(job.id, self.worker_name)
        attempt = job.attempts
        engine_name = self.engine_override or job.request.ocr_engine
        self.log.info(
            "OCR job started",
            image_uri=job.request.image_uri,
            engine=engine_name,
            attempt=attempt,
            **fields,
        )
        reading = self._read(job, engine_name)
        try:
            if isinstance(reading, Exception):
                reason = f"{type(reading).__name__}: {reading}"
                self.ocr_jobs.fail(job.id, reason, attempt)
                self.log.warning("OCR job failed", reason=reason, attempt=attempt, **fields)
            else:
                self._complete(job.id, attempt, reading)
                self._log_completed(reading, attempt, fields)
        except (StaleAttempt, IllegalTransition) as lost:
            # another attempt (or an operator, or the dead-letter sweep) decided the job:
            # this one published nothing and leaves what the other one did alone
            self.log.warning(
                "OCR attempt superseded: nothing of it was published",
                attempt=attempt,
                reason=str(lost),
                **fields,
            )
            self.delete(message, fields)
            return "superseded"
        finished = self.ocr_jobs.get_ocr_job(job.id)
        self._send_result(finished)
        self.delete(message, fields)
        return "completed" if finished.status is OCRStatus.COMPLETED else "failed"

    def _read(self, job: OCRJob, engine_name: str) -> ReceiptReading | Exception:
        """The job's reading, or the error that fails it: only what concerns the job itself
        (its image, its engine, its model)."""
        try:
            with tempfile.TemporaryDirectory(prefix=scratch_prefix("ocr")) as work:
                engine = self.engines(engine_name)
                image = self._download(job.request.image_uri, Path(work), engine_name)
                predictor = self.models.get(job.request.model_uri)
                return read_receipt(
                    image,
                    receipt_id=receipt_id_of(job.id),
                    engine=engine,
                    predictor=predictor,
                    policy=self.policy,
                    image_uri=job.request.image_uri,
                )
        except JOB_FAILURES as error:
            return error

    def _complete(self, job_id: UUID, attempt: int, reading: ReceiptReading) -> None:
        """Stages the results under the attempt, completes the job naming it (refused with
        StaleAttempt when another attempt took over) and, as the winner, publishes them.

        A failure to store anything (a missing table or bucket, a throttled write) is the
        environment's, not the job's, and propagates, so the message comes back: before the
        job is completed the attempt's files are removed and the job stays processing (a
        retry, then the DLQ); after it, the redelivery (or the dead-letter sweep) publishes
        what is missing."""
        staged = staged_files(self.results_prefix, job_id, attempt)
        documents = {
            **reading.documents(),
            "record": reading.labelled_receipt().model_dump_json().encode(),
        }
        written: list[str] = []
        try:
            for role, uri in staged.items():
                self.artifacts.put_bytes(uri, documents[role])
                written.append(uri)
            self.ocr_jobs.complete(job_id, outcome_of(reading, result_uris(staged)), attempt)
        except Exception:
            self._remove(written)  # this attempt's own files: never published
            raise
        self.publish(job_id)

    def _publish_and_send(self, job_id: UUID) -> None:
        """A finished job's redelivery: its results published (again, when a crash or a
        failing store stopped the winner), then its message."""
        self.publish(job_id)
        self._send_result(self.ocr_jobs.get_ocr_job(job_id))

    def publish(self, job_id: UUID) -> None:
        """Publishes a completed job's staged results (its winning attempt's): the
        word-label record, then the seeds' `ocr_results/<job>.json`, then
        `receipts/<job>/labels.json`, whose presence marks the publication done (so a
        repeat after it rewrites nothing, and a reviewer's verdicts stay). Only a completed
        job's own attempt files are read: a losing attempt never reaches here."""
        job = self.ocr_jobs.get_ocr_job(job_id)
        outcome = job.outcome
        staged = staged_files(self.results_prefix, job_id, job.attempts)
        if outcome is None or outcome.result_uris != result_uris(staged):
            return  # not completed, or completed by a report from elsewhere
        published = published_files(self.results_prefix, job_id)
        if self.artifacts.exists(published["labels"]):
            return
        record = Receipt.model_validate_json(self.artifacts.get_bytes(staged["record"]))
        self.labels.put([record])
        for role in ("ocr", "labels"):
            self.artifacts.put_bytes(published[role], self.artifacts.get_bytes(staged[role]))

    def fail_dead_letters(self, dead_letters: MessageQueue) -> list[UUID]:
        """`OCRJobs.fail_dead_letters`, publishing a completed job's results when a failing
        store kept its winner from it until the message reached the dead-letter queue."""
        return self.ocr_jobs.fail_dead_letters(dead_letters, publish=self.publish)

    def _log_completed(
        self, reading: ReceiptReading, attempt: int, fields: dict[str, object]
    ) -> None:
        self.log.info(
            "OCR job completed",
            words=len(reading.ocr.words),
            routing=reading.routing.decision.value,
            routing_reason=reading.routing.reason,
            ocr_seconds=round(reading.ocr_seconds, 3),
            inference_seconds=round(reading.inference_seconds, 3),
            attempt=attempt,
            **fields,
        )

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

    def _remove(self, written: list[str]) -> None:
        for uri in written:
            try:
                self.artifacts.delete(uri)
            except Exception as error:
                self.log.warning("could not remove a staged result", uri=uri, error=str(error))

    def _job_for(self, request: OCRMessage) -> OCRJob:
        try:
            return self.ocr_jobs.get_ocr_job(request.job_id)
        except OCRJobNotFound:
            # queued by hand (the seeds' upload path without this library): record it first,
            # as already queued (the dispatcher sends it no second message)
            self.ocr_jobs.submit(
                request.image_uri,
                ocr_job_id=request.job_id,
                queued=True,
                ocr_engine=request.ocr_engine or "tesseract",
                submitted_by="queue",
            )
            return self.ocr_jobs.get_ocr_job(request.job_id)

    def _send_result(self, job: OCRJob) -> None:
        if self.results_queue is None:
            return
        self.results_queue.send(result_message(job).body())


def receipt_id_of(job_id: UUID) -> str:
    """The word-label record of an OCR job."""
    return f"ocr-{job_id}"


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
