"""The export worker's use case: one queue message → one exported, published bundle.

Idempotent by export_id: a duplicate delivery of a running or finished export never
exports twice, and a redelivery of a finished export re-sends its result message.

Every delivery that works starts a new attempt of the ExportJob. The attempt uploads its
bundle to a staging prefix of its own (`ExportRequest.staging_prefix`), then ends the
attempt (`succeed`/`fail` naming it: only the current attempt can, and the event store's
optimistic concurrency decides between two saves). Only the attempt that recorded
Succeeded publishes (`ArtifactStore.publish_dir`: all or nothing) and then deletes the
staging of every other attempt of the export; an attempt that lost (StaleAttempt)
deletes only its own staging. The message is deleted after publishing, so a crash in
between is finished by the redelivery (it publishes the winner's staging).

While an export runs (in a thread of its own, in a temporary scratch tree) a heartbeat
extends the message's visibility through the MessageQueue port.
`request_stop()` (the entry point calls it on SIGTERM/SIGINT) lets the current export
finish; if it has not finished when the grace period ends, the message is made visible
again at once (another worker takes it: a new attempt of the same ExportJob) and the
export is abandoned. A message that is not a valid export request is logged and left to
the queue's redrive to the dead-letter queue.
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal, cast
from uuid import UUID

from receipts.application.export.checkpoint_source import fetch_checkpoint
from receipts.application.export.exports import Exports
from receipts.application.export.publishing import publish_bundle
from receipts.application.ports.archives import ArchiveExtractor
from receipts.application.ports.artifact_store import PUBLISHED_MARKER, ArtifactStore
from receipts.application.ports.exporter import Exporter, ExportFailed
from receipts.application.ports.queue import QueueMessage
from receipts.application.queueing.messages import ExportMessage, ExportResultMessage
from receipts.application.queueing.queue_worker import QueueWorker
from receipts.application.queueing.scratch import scratch_prefix
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.errors import ExportJobNotFound, StaleAttempt
from receipts.domain.export_job import ExportJob, ExportOutcome, ExportRequest, ExportStatus

Handled = Literal[
    "exported", "failed", "duplicate", "resent", "stale", "poison", "released", "error"
]
"""What became of one delivery: `released` = made visible again at a stop; `stale` = the
attempt was replaced or ended by another one (nothing it made is kept); `error` = an
unexpected failure (logged; the message comes back after its visibility timeout)."""

_POLL_SECONDS = 0.05


@dataclass(kw_only=True)
class ExportWorker(QueueWorker[ExportMessage, Handled]):
    """One message at a time. `heartbeat_every` defaults to a third of the visibility
    timeout. `grace_seconds`: how long a stop waits for the current export.
    `extractor` unpacks checkpoint archives (`model.tar.gz`); without one they fail."""

    exports: Exports
    artifacts: ArtifactStore
    exporter: Exporter
    worker_name: str = "export-worker"
    visibility_timeout: float = 900.0
    grace_seconds: float = 30.0
    extractor: ArchiveExtractor | None = None
    abandoned: threading.Thread | None = field(default=None, init=False, compare=False)
    """An export thread still running after its message was released at a stop."""
    _stop_deadline: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must be 0 or more, got {self.grace_seconds:g}")
        every = self.heartbeat_interval()
        if every and not every < self.visibility_timeout:
            raise ValueError(
                f"heartbeat every {every:g} s must be shorter than the visibility timeout"
                f" ({self.visibility_timeout:g} s)"
            )

    def parse(self, body: str) -> ExportMessage:
        return ExportMessage.parse(body)

    def describe(self, request: ExportMessage) -> dict[str, str]:
        return {"export_id": str(request.export_id), "job_id": request.job_id}

    def default_heartbeat_every(self) -> float:
        return self.visibility_timeout / 3

    def request_stop(self, *, immediately: bool = False) -> None:
        """Take no new message; let the current export finish within the grace period (a
        second request, or `immediately`, releases it now)."""
        now = time.monotonic()
        deadline = now if immediately or self.stopping else now + self.grace_seconds
        if self._stop_deadline is None or deadline < self._stop_deadline:
            self._stop_deadline = deadline
        super().request_stop()

    def work(self, message: QueueMessage, request: ExportMessage) -> Handled:
        fields = self.delivery_fields(message, request)
        export = self._export_for(request)
        if export.status is ExportStatus.SUCCEEDED and publish_bundle(self.artifacts, export):
            # the attempt that succeeded ended before it published (a crash)
            self.log.warning("bundle published on a redelivery", **fields)
        resend = partial(self._send_result, export)
        if seen := self.redelivery(message, export, ExportStatus.RUNNING, "export", fields, resend):
            return seen
        export = self.exports.start_export(export.id, self.worker_name)
        attempt = export.attempts
        fields["attempt"] = attempt
        self.log.info(
            "export started",
            worker=self.worker_name,
            model_uri=export.request.checkpoint_uri,
            quantize=export.request.quantization.value,
            exporter=self.exporter.name,
            **fields,
        )
        result = self._run_export(export, attempt, message)
        if result is None:
            self.log.warning(
                "export released at stop: the message is visible again for another worker",
                grace_seconds=self.grace_seconds,
                **fields,
            )
            return "released"
        try:
            finished = self._end_attempt(export, attempt, result, fields)
        except StaleAttempt as lost:
            self._discard(export, attempt)
            self.log.warning(
                "export attempt lost: another attempt replaced or ended it; its staging is"
                " deleted and nothing it made is published",
                reason=str(lost),
                **fields,
            )
            return "stale"
        self._send_result(finished)
        self.delete(message, fields)
        return "exported" if finished.status is ExportStatus.SUCCEEDED else "failed"

    def _end_attempt(
        self,
        export: ExportJob,
        attempt: int,
        result: ExportOutcome | Exception,
        fields: dict[str, object],
    ) -> ExportJob:
        """Records the attempt's end (StaleAttempt when it lost) and publishes a success."""
        if isinstance(result, Exception):
            reason = f"{type(result).__name__}: {result}"
            finished = self.exports.fail_export(export.id, reason, attempt)
            self._discard(export, attempt)
            self.log.warning("export failed", reason=reason, **fields)
            return finished
        finished = self.exports.complete_export(export.id, result, attempt)
        publish_bundle(self.artifacts, finished)
        self.log.info(
            "export succeeded",
            bundle_uri=result.bundle_uri,
            total_bytes=result.total_bytes,
            seconds=round(result.duration_seconds, 3),
            **fields,
        )
        return finished

    def _discard(self, export: ExportJob, attempt: int) -> None:
        """Deletes what one attempt staged (nothing when its output is in another store)."""
        if self._in_store(export.request.output_prefix):
            self.artifacts.delete_dir(export.request.staging_prefix(export.id, attempt))

    def _in_store(self, uri: str) -> bool:
        return ArtifactURI.parse(uri).scheme == self.artifacts.scheme

    def _run_export(
        self, export: ExportJob, attempt: int, message: QueueMessage
    ) -> ExportOutcome | Exception | None:
        """The export's outcome or error; None when it was released at a stop."""
        outcome: Future[ExportOutcome] = Future()

        def run() -> None:
            try:
                outcome.set_result(self._export(export, attempt))
            except Exception as error:
                outcome.set_exception(error)

        # a daemon thread, not an executor's: an export abandoned at a stop must not keep
        # the process from exiting
        thread = threading.Thread(target=run, name=f"export-{export.id}", daemon=True)
        thread.start()
        noticed = False
        with self.heartbeat(message):
            while not outcome.done() and not self._grace_over():
                wait([outcome], timeout=_POLL_SECONDS)
                if self.stopping and not noticed and not outcome.done():
                    noticed = True
                    deadline = self._stop_deadline or time.monotonic()
                    self.log.info(
                        "stop requested: finishing the current export",
                        export_id=str(export.id),
                        grace_left_seconds=round(max(0.0, deadline - time.monotonic()), 1),
                    )
        if not outcome.done():
            self.abandoned = thread
            self.release(message)
            return None
        error = outcome.exception()
        return cast(Exception, error) if error is not None else outcome.result()

    def _grace_over(self) -> bool:
        return self._stop_deadline is not None and time.monotonic() >= self._stop_deadline

    def _export_for(self, request: ExportMessage) -> ExportJob:
        try:
            return self.exports.get_export(request.export_id)
        except ExportJobNotFound:
            # a message sent by hand (the seeds' `aws sqs send-message`): record it first
            job_id = request.job_uuid or _uuid_or_none(request.job_id)
            self.exports.request_export(
                ExportRequest(
                    source_job_id=job_id,
                    source_job_name=None if _uuid_or_none(request.job_id) else request.job_id,
                    checkpoint_uri=request.model_uri,
                    quantization=request.quantize,
                    output_prefix=request.output_prefix,
                    requested_by="queue",
                ),
                export_id=request.export_id,
            )
            return self.exports.get_export(request.export_id)

    def _export(self, export: ExportJob, attempt: int) -> ExportOutcome:
        """Exports in a scratch tree and uploads the bundle to the attempt's staging."""
        started = time.perf_counter()
        request = self._check_request(export.request)
        with tempfile.TemporaryDirectory(prefix=scratch_prefix("export")) as scratch:
            work = Path(scratch)
            bundle, unpacked = work / "bundle", work / "checkpoint"
            bundle.mkdir()
            checkpoint = fetch_checkpoint(
                self.artifacts, request.checkpoint_uri, unpacked, self.extractor
            )
            report = self.exporter.export(checkpoint, bundle, request.quantization)
            if not report.file_sizes or not any(bundle.iterdir()):
                raise ExportFailed(f"exporter {self.exporter.name!r} wrote no bundle files")
            if not (bundle / PUBLISHED_MARKER).is_file():
                raise ExportFailed(
                    f"exporter {self.exporter.name!r} wrote no {PUBLISHED_MARKER}"
                    " (a bundle is published by its manifest)"
                )
            self.artifacts.upload_dir(bundle, request.staging_prefix(export.id, attempt))
        return ExportOutcome(
            bundle_uri=request.bundle_prefix(),
            file_sizes=report.file_sizes,
            total_bytes=sum(report.file_sizes.values()),
            duration_seconds=time.perf_counter() - started,
            validation=report.validation,
        )

    def _check_request(self, request: ExportRequest) -> ExportRequest:
        """Both URIs must be in this worker's artifact store."""
        scheme = self.artifacts.scheme
        for what, uri in (
            ("model_s3_uri", request.checkpoint_uri),
            ("output_s3_prefix", request.output_prefix),
        ):
            if not self._in_store(uri):
                raise ExportFailed(f"{what} {uri} is not in this worker's {scheme}:// store")
        return request

    def _send_result(self, export: ExportJob) -> None:
        if self.results_queue is None:
            return
        request = export.request
        result = ExportResultMessage(
            export_id=export.id,
            job_id=str(request.source_job_name or request.source_job_id or ""),
            job_uuid=request.source_job_id,
            status=export.status.value,
            bundle_uri=export.outcome.bundle_uri if export.outcome else None,
            total_bytes=export.outcome.total_bytes if export.outcome else None,
            error=export.error,
        )
        self.results_queue.send(result.body())


def _uuid_or_none(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
